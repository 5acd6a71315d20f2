"""Seeded, realistic demo data: supplier profiles and tender notices built through the contract models.

Everything comes from one ``random.Random(seed)``, so the same ``(n, seed, now)`` always gives the same models.
The code table below is a small hand-curated extract: titles match the UNGM UNSPSC code list
(https://www.ungm.org/Public/UNSPSC) and CPV 2008 (Regulation (EC) 213/2008). It is hard-coded on purpose: demo
data must not depend on reference files beside the repository.

Codes are used at mixed levels (family ``42130000``, class ``42132200``, commodity ``42132203``) because real
suppliers declare codes that way. The first ``len(SECTORS)`` suppliers are broad distributors, one per sector,
that declare every code of their sector (UNSPSC and CPV): with at least that many suppliers, every notice shares a
code family with some supplier, so matching always has something to find.

Email addresses and URLs use the reserved ``example.com`` / ``example.net`` / ``example.org`` domains (RFC 2606).

Speed: code, money and default-preference models are built once through the validating constructors and shared
(they are frozen); profiles, notices and their other parts are assembled with ``model_construct`` from values that
are valid by construction. Validating every profile would cost about 30 s per 100,000 (``EmailStr`` alone takes
~65 µs an address); ``tests/unit/test_demo_data.py`` re-validates whole generated sets through the contracts
instead, so a generator change that breaks a contract fails there.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TypeVar

from contracts.common import Classification, CodeScheme, Money, RegistrationLevel
from contracts.notice import Buyer, Document, Item, NoticeType, ProcurementMethod, TenderNotice
from contracts.supplier import AlertFrequency, AlertPreferences, PastAward, SupplierProfile

__all__ = ["SECTORS", "SHOWCASE_SUPPLIERS", "Sector", "generate_notices", "generate_suppliers", "showcase_suppliers"]

T = TypeVar("T")

#: Past awards and ``updated_at`` are placed before this instant so suppliers do not depend on the day they are
#: generated on (``generate_suppliers`` takes no ``now``).
_SUPPLIER_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Line:
    """One UNSPSC code of a sector and how a notice item for it reads."""

    code: str
    title: str
    item_en: str
    item_zh: str
    unit: str


@dataclass(frozen=True)
class Sector:
    key: str
    name_en: str
    name_zh: str
    lines: tuple[Line, ...]
    #: Codes declared by suppliers in addition to the lines (higher levels: family, class).
    broad_codes: tuple[tuple[str, str], ...]
    #: CPV codes with check digit and title (TED-style notices and EU-style suppliers).
    cpv: tuple[tuple[str, str], ...]
    keywords_en: tuple[str, ...]
    keywords_zh: tuple[str, ...]
    #: Company name stems (English, Chinese).
    stems: tuple[tuple[str, str], ...]
    certifications: tuple[str, ...]
    #: Typical contract value range in USD.
    value_range: tuple[int, int]


SECTORS: tuple[Sector, ...] = (
    Sector(
        "medical_ppe",
        "medical gloves and protective clothing",
        "医用手套和防护服",
        (
            Line(
                "42132203",
                "Medical exam or non surgical procedure gloves",
                "Nitrile examination gloves, powder-free, size M, box of 100",
                "丁腈检查手套，无粉，M码，100只/盒",
                "box",
            ),
            Line(
                "42132205",
                "Surgical gloves",
                "Sterile latex surgical gloves, size 7.5, pair",
                "无菌乳胶外科手套，7.5号，双",
                "pair",
            ),
            Line(
                "42131608",
                "Medical staff scrubs",
                "Reusable medical scrubs, cotton blend, set",
                "可重复使用医护刷手服，混纺，套",
                "set",
            ),
            Line(
                "42131609",
                "Medical staff shoe covers",
                "Disposable non-woven shoe covers, pack of 100",
                "一次性无纺布鞋套，100只/包",
                "pack",
            ),
        ),
        (
            ("42130000", "Medical apparel and textiles"),
            ("42132200", "Medical gloves and accessories"),
            ("42131600", "Medical staff clothing and related articles"),
        ),
        (("18424300-0", "Disposable gloves"), ("33141420-0", "Surgical gloves"), ("18143000-3", "Protective gear")),
        ("nitrile gloves", "examination gloves", "surgical gloves", "PPE", "isolation gowns", "shoe covers"),
        ("丁腈手套", "检查手套", "外科手套", "个人防护装备", "隔离衣"),
        (("Meditex", "美迪泰"), ("Safeglove", "安手"), ("Careguard", "康护"), ("Hygieia", "卫康")),
        ("ISO 13485", "ISO 9001", "CE", "FDA 510(k)", "EN 455"),
        (20_000, 900_000),
    ),
    Sector(
        "pharma",
        "medicines and vaccines",
        "药品和疫苗",
        (
            Line(
                "51102901",
                "Artemether/lumefantrine",
                "Artemether/lumefantrine 20/120 mg dispersible tablets, blister of 6",
                "蒿甲醚/本芴醇 20/120毫克分散片，6片/板",
                "blister",
            ),
            Line(
                "51201600",
                "Vaccines and antigens and toxoids",
                "Measles-rubella vaccine, 10-dose vial, WHO prequalified",
                "麻疹风疹联合疫苗，10剂/瓶，世卫组织预认证",
                "vial",
            ),
            Line(
                "51191900",
                "Nutritional therapy products",
                "Ready-to-use therapeutic food (RUTF), 92 g sachet, carton of 150",
                "即食治疗性食品，92克/袋，150袋/箱",
                "carton",
            ),
            Line(
                "51102900",
                "Combination antimalarials",
                "Artesunate-amodiaquine tablets, 100/270 mg, pack of 25",
                "青蒿琥酯-阿莫地喹片，100/270毫克，25片/盒",
                "pack",
            ),
        ),
        (("51100000", "Amebicides and trichomonacides and antiprotozoals"), ("51200000", "Immunomodulating drugs")),
        (
            ("33600000-6", "Pharmaceutical products"),
            ("33651600-4", "Vaccines"),
            ("33690000-3", "Various medicinal products"),
        ),
        ("antimalarials", "vaccines", "RUTF", "essential medicines", "tablets", "WHO prequalified"),
        ("抗疟药", "疫苗", "即食治疗性食品", "基本药物", "片剂"),
        (("Pharmacare", "华药"), ("Vitalis", "维泰"), ("Sinobio", "中生"), ("Medipharm", "美迪药业")),
        ("WHO PQ", "GMP", "ISO 9001", "PIC/S"),
        (50_000, 3_000_000),
    ),
    Sector(
        "cold_chain",
        "cold chain equipment",
        "冷链设备",
        (
            Line(
                "24113108",
                "Insulated box for vaccines",
                "Vaccine carrier, 1.7 L, cold life 20 h, WHO PQS E004",
                "疫苗冷藏包，1.7升，冷藏寿命20小时",
                "each",
            ),
            Line(
                "24131515",
                "Pharmaceutical refrigerator and freezer",
                "Solar direct-drive vaccine refrigerator, 100 L",
                "太阳能直驱疫苗冰箱，100升",
                "each",
            ),
            Line(
                "41103010",
                "Blood bank refrigerators",
                "Blood bank refrigerator, 300 L, alarm",
                "血库冰箱，300升，带报警",
                "each",
            ),
        ),
        (("24130000", "Industrial refrigeration"), ("24131500", "Industrial refrigerators")),
        (("39711130-9", "Refrigerators"),),
        ("cold chain", "vaccine refrigerator", "cold box", "vaccine carrier", "PQS"),
        ("冷链", "疫苗冰箱", "冷藏箱", "疫苗冷藏包"),
        (("Coldtrust", "冷信"), ("Frostline", "霜线"), ("Haier Medical", "海尔医用")),
        ("WHO PQS", "ISO 9001", "CE"),
        (30_000, 1_500_000),
    ),
    Sector(
        "diagnostics",
        "laboratory and diagnostics",
        "实验室和诊断",
        (
            Line(
                "41116144",
                "Virology test kits or supplies",
                "Rapid diagnostic test kit, HIV 1/2, 25 tests",
                "HIV 1/2 快速诊断试剂盒，25人份",
                "kit",
            ),
            Line(
                "41116130",
                "Microbiology or bacteriology reagents or solutions or stains",
                "Gram stain reagent set, 4 x 250 mL",
                "革兰氏染色试剂套装，4 x 250毫升",
                "set",
            ),
            Line(
                "41104423",
                "Refrigerated incubators",
                "Refrigerated laboratory incubator, 150 L",
                "实验室冷藏培养箱，150升",
                "each",
            ),
        ),
        (
            ("41116100", "Manual test kits and quality controls and calibrators and standards"),
            ("41100000", "Laboratory and scientific equipment"),
        ),
        (("33696500-0", "Laboratory reagents"), ("33124100-6", "Diagnostic devices")),
        ("rapid diagnostic tests", "RDT", "reagents", "laboratory equipment", "malaria RDT"),
        ("快速诊断试剂", "试剂", "实验室设备", "检测试剂盒"),
        (("Labline", "实验线"), ("Diagnova", "迪诺"), ("Biotest", "百测")),
        ("ISO 13485", "WHO PQ", "CE-IVD", "ISO 9001"),
        (10_000, 800_000),
    ),
    Sector(
        "it",
        "computers and IT equipment",
        "计算机和信息技术设备",
        (
            Line(
                "43211503",
                "Notebook computers",
                "Laptop, 14 inch, Core i5, 16 GB RAM, 512 GB SSD",
                "笔记本电脑，14英寸，i5，16GB内存，512GB固态硬盘",
                "each",
            ),
            Line(
                "43211507",
                "Desktop computers",
                "Desktop computer with 24 inch monitor",
                "台式电脑，配24英寸显示器",
                "each",
            ),
            Line(
                "43211509",
                "Tablet computers",
                "Rugged tablet, 10 inch, 4G LTE, for data collection",
                "加固平板电脑，10英寸，4G",
                "each",
            ),
            Line(
                "43212105",
                "Laser printers",
                "Monochrome laser printer, A4, network",
                "黑白激光打印机，A4，网络型",
                "each",
            ),
            Line(
                "43222501",
                "Firewall network security equipment",
                "Next-generation firewall appliance, 1 Gbps",
                "下一代防火墙设备，1 Gbps",
                "each",
            ),
        ),
        (("43210000", "Computer Equipment and Accessories"), ("43211500", "Computers")),
        (("30213100-6", "Portable computers"), ("30213200-7", "Tablet computer")),
        ("laptops", "desktops", "tablets", "printers", "firewall", "IT equipment"),
        ("笔记本电脑", "台式机", "平板电脑", "打印机", "信息技术设备"),
        (("Lenotek", "联泰科"), ("Datawise", "数智"), ("Huaxin Digital", "华信数码"), ("Netcore", "网核")),
        ("ISO 9001", "ISO 27001", "Energy Star", "EPEAT"),
        (15_000, 1_200_000),
    ),
    Sector(
        "vehicles",
        "vehicles",
        "车辆",
        (
            Line(
                "25101507",
                "Light trucks or sport utility vehicles",
                "4x4 station wagon, diesel, right-hand drive",
                "四驱旅行车，柴油，右舵",
                "each",
            ),
            Line("25101505", "Minivans or vans", "Minibus, 15 seats, diesel", "15座中巴车，柴油", "each"),
            Line("25101703", "Ambulances", "4x4 ambulance, type B, fully equipped", "四驱救护车，B型，全配置", "each"),
            Line("25101801", "Motorcycles", "Motorcycle 125 cc, off-road tyres", "125cc摩托车，越野轮胎", "each"),
        ),
        (("25100000", "Motor vehicles"), ("25101500", "Passenger motor vehicles")),
        (("34110000-1", "Passenger cars"), ("34114000-9", "Specialist vehicles")),
        ("4x4 vehicles", "ambulances", "motorcycles", "pickups", "minibuses"),
        ("四驱车", "救护车", "摩托车", "皮卡"),
        (("Roadstar Motors", "路星汽车"), ("Dongfeng Trading", "东风贸易"), ("Autolink", "汽联")),
        ("ISO 9001", "ISO 14001"),
        (60_000, 4_000_000),
    ),
    Sector(
        "energy",
        "solar power and generators",
        "太阳能和发电设备",
        (
            Line(
                "26131900",
                "Solar power equipment",
                "Solar PV system 10 kWp with lithium battery storage",
                "10千瓦太阳能光伏系统，配锂电池储能",
                "system",
            ),
            Line("26111607", "Solar generators", "Portable solar generator 1 kW", "便携式太阳能发电机，1千瓦", "each"),
            Line(
                "26111601",
                "Diesel generators",
                "Diesel generator set 60 kVA, soundproof canopy",
                "60千伏安柴油发电机组，静音罩",
                "each",
            ),
            Line("39101603", "Solar lamps", "Solar lantern with phone charger", "带手机充电功能的太阳能灯", "each"),
            Line(
                "26111711",
                "Lithium batteries",
                "Lithium iron phosphate battery 48 V 100 Ah",
                "磷酸铁锂电池，48伏100安时",
                "each",
            ),
        ),
        (("26110000", "Batteries and generators and kinetic power transmission"), ("26111600", "Power generators")),
        (("09331200-0", "Solar photovoltaic modules"), ("31121000-0", "Generating sets"), ("31440000-2", "Batteries")),
        ("solar panels", "photovoltaic", "generators", "solar lanterns", "batteries", "mini-grid"),
        ("太阳能板", "光伏", "发电机", "太阳能灯", "锂电池"),
        (("Sunrise Solar", "日升光伏"), ("Greenvolt", "绿伏"), ("Powermax", "动力美"), ("Jinko Trade", "晶科贸易")),
        ("IEC 61215", "ISO 9001", "ISO 14001", "Lighting Global"),
        (20_000, 2_500_000),
    ),
    Sector(
        "wash",
        "water, sanitation and hygiene",
        "水、环境卫生和个人卫生",
        (
            Line(
                "40161609",
                "Water purification system",
                "Mobile water treatment unit, 5 m3/h",
                "移动式水处理装置，每小时5立方米",
                "each",
            ),
            Line(
                "47101500",
                "Water treatment and supply equipment",
                "Water storage tank, collapsible, 10,000 L",
                "可折叠储水罐，1万升",
                "each",
            ),
            Line(
                "47101605",
                "Bacterial removal chemicals",
                "Water purification tablets, NaDCC 67 mg, strip of 10",
                "净水片，二氯异氰尿酸钠67毫克，10片/板",
                "strip",
            ),
            Line("24112209", "Jerrycans", "Collapsible jerrycan, 10 L, food grade", "可折叠水桶，10升，食品级", "each"),
            Line("53131608", "Soaps", "Bar soap, 250 g, individually wrapped", "香皂，250克，独立包装", "bar"),
        ),
        (
            ("47100000", "Water and wastewater treatment supply and disposal"),
            ("47101600", "Water treatment consumables"),
        ),
        (
            ("42912300-5", "Machinery and apparatus for filtering or purifying water"),
            ("44611500-1", "Water tanks"),
            ("33711900-6", "Soap"),
        ),
        ("water purification", "water tanks", "jerrycans", "hygiene kits", "soap", "WASH"),
        ("净水", "储水罐", "水桶", "卫生用品包", "肥皂"),
        (("Aquaclear", "清泉"), ("Hydrosafe", "水安"), ("Purewell", "纯井")),
        ("ISO 9001", "NSF/ANSI 61", "WHO PQ"),
        (10_000, 700_000),
    ),
    Sector(
        "shelter",
        "shelter and relief items",
        "住所和救济物资",
        (
            Line(
                "49121503",
                "Tents",
                "Family tent, 16 m2, double fly, UNHCR specification",
                "家庭帐篷，16平方米，双层外帐",
                "each",
            ),
            Line("24141506", "Tarpaulins", "Reinforced plastic tarpaulin, 4 x 6 m", "加强塑料防水布，4 x 6米", "each"),
            Line("52121508", "Blankets", "High thermal blanket, 150 x 200 cm", "高保暖毛毯，150 x 200厘米", "each"),
            Line(
                "49121508",
                "Mosquito nets",
                "Long-lasting insecticidal net, rectangular, family size",
                "长效驱虫蚊帐，长方形，家庭型",
                "each",
            ),
            Line("30241705", "Winterization kit for tent", "Tent winterization kit", "帐篷防寒套件", "kit"),
        ),
        (("49120000", "Camping and outdoor equipment and accessories"), ("49121500", "Camping and outdoor equipment")),
        (("39522530-1", "Tents"), ("39511100-8", "Blankets")),
        ("tents", "tarpaulins", "blankets", "mosquito nets", "LLIN", "core relief items", "NFI"),
        ("帐篷", "防水布", "毛毯", "蚊帐", "救灾物资"),
        (("Reliefpro", "援助"), ("Tentex", "帐篷王"), ("Shelterline", "庇护"), ("Anping Textile", "安平纺织")),
        ("ISO 9001", "WHOPES", "Oeko-Tex"),
        (20_000, 2_000_000),
    ),
    Sector(
        "food",
        "food commodities",
        "粮食商品",
        (
            Line(
                "50221108",
                "Rice grain",
                "Rice, long grain, 25% broken, 50 kg bags",
                "长粒大米，碎米率25%，50公斤袋装",
                "tonne",
            ),
            Line("50221102", "Cereal flour", "Wheat flour, fortified, 50 kg bags", "强化小麦粉，50公斤袋装", "tonne"),
            Line("50221000", "Pulses", "Yellow split peas, 50 kg bags", "黄豌豆瓣，50公斤袋装", "tonne"),
            Line(
                "50131700",
                "Milk and butter products",
                "Dried skimmed milk, fortified, 25 kg",
                "强化脱脂奶粉，25公斤",
                "tonne",
            ),
        ),
        (("50220000", "Cereal and pulse products"), ("50221100", "Cereals")),
        (("15614000-5", "Processed rice"), ("15612000-1", "Cereal or vegetable flour and related products")),
        ("rice", "wheat flour", "pulses", "fortified food", "food commodities"),
        ("大米", "面粉", "豆类", "强化食品"),
        (("Graintrade", "谷贸"), ("Harvest Link", "丰收"), ("Agrofoods", "农食")),
        ("ISO 22000", "HACCP", "FSSC 22000"),
        (100_000, 5_000_000),
    ),
    Sector(
        "furniture",
        "school and office furniture",
        "学校和办公家具",
        (
            Line(
                "56121500",
                "General classroom furnishings",
                "School desk and bench, 2 seats, steel frame",
                "双人课桌椅，钢架",
                "set",
            ),
            Line("56101519", "Tables", "Folding table, 180 x 75 cm", "折叠桌，180 x 75厘米", "each"),
            Line("56101700", "Office furniture", "Office workstation with chair", "办公工作站，含椅子", "set"),
            Line("44121600", "Desk supplies", "School stationery kit", "学生文具包", "kit"),
        ),
        (
            ("56100000", "Accommodation furniture"),
            ("56120000", "Classroom and instructional and institutional furniture and fixtures"),
        ),
        (("39160000-1", "School furniture"),),
        ("school furniture", "desks", "office furniture", "school kits", "stationery"),
        ("学校家具", "课桌", "办公家具", "文具包"),
        (("Deskmaster", "桌王"), ("Edufurn", "教具"), ("Officeline", "办公线")),
        ("ISO 9001", "FSC", "ISO 14001"),
        (10_000, 600_000),
    ),
    Sector(
        "construction",
        "construction works and prefabricated buildings",
        "建筑工程和预制房屋",
        (
            Line(
                "72121100",
                "Commercial and office building construction services",
                "Construction of a primary health care centre",
                "建设一所初级卫生保健中心",
                "lot",
            ),
            Line(
                "72141103",
                "Highway and road paving service",
                "Rehabilitation of 12 km rural road",
                "修复12公里农村道路",
                "lot",
            ),
            Line(
                "95141600",
                "Prefabricated residential buildings and structures",
                "Prefabricated office container, 20 ft, insulated",
                "20英尺保温预制办公集装箱",
                "each",
            ),
        ),
        (("72120000", "Nonresidential building construction services"), ("72140000", "Heavy construction services")),
        (
            ("45210000-2", "Building construction work"),
            ("45233140-2", "Roadworks"),
            ("44211000-2", "Prefabricated buildings"),
        ),
        ("construction", "civil works", "road rehabilitation", "prefabricated buildings", "containers"),
        ("建筑", "土木工程", "道路修复", "预制房屋", "集装箱房"),
        (("Buildcorp", "建工"), ("Prefab Systems", "预制系统"), ("Roadway Engineering", "路桥工程")),
        ("ISO 9001", "ISO 45001", "ISO 14001"),
        (100_000, 8_000_000),
    ),
    Sector(
        "services",
        "consulting and software services",
        "咨询和软件服务",
        (
            Line(
                "80101500",
                "Business and corporate management consultation services",
                "Consultancy: supply chain assessment",
                "咨询：供应链评估",
                "lot",
            ),
            Line(
                "80101600",
                "Project management",
                "Project management services for an infrastructure programme",
                "基础设施项目管理服务",
                "lot",
            ),
            Line(
                "81112200",
                "Software maintenance and support",
                "Maintenance and support of the ERP system, 2 years",
                "ERP系统维护和支持，两年",
                "lot",
            ),
            Line(
                "81111500",
                "Software or hardware engineering",
                "Development of a mobile data collection application",
                "开发移动数据采集应用",
                "lot",
            ),
        ),
        (("80100000", "Management advisory services"), ("81110000", "Computer services")),
        (
            ("79400000-8", "Business and management consultancy and related services"),
            ("72260000-5", "Software-related services"),
        ),
        ("consultancy", "evaluation", "software development", "ERP support", "project management"),
        ("咨询", "评估", "软件开发", "项目管理"),
        (("Insight Partners", "洞察"), ("Codeworks", "码工"), ("Evalua", "评估")),
        ("ISO 9001", "ISO 27001", "CMMI level 3"),
        (20_000, 1_000_000),
    ),
)


@dataclass(frozen=True)
class _Country:
    code: str
    weight: int
    cities: tuple[tuple[str, str], ...]  # (English, Chinese)
    suffix_en: str
    tz: str


_SUPPLIER_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "CN",
        40,
        (
            ("Ningbo", "宁波"),
            ("Shenzhen", "深圳"),
            ("Shanghai", "上海"),
            ("Guangzhou", "广州"),
            ("Hangzhou", "杭州"),
            ("Xiamen", "厦门"),
            ("Qingdao", "青岛"),
            ("Wuhan", "武汉"),
            ("Changzhou", "常州"),
            ("Hebei Anping", "河北安平"),
        ),
        "Co., Ltd.",
        "Asia/Shanghai",
    ),
    _Country(
        "IN", 10, (("Mumbai", ""), ("Ahmedabad", ""), ("Hyderabad", ""), ("Chennai", "")), "Pvt. Ltd.", "Asia/Kolkata"
    ),
    _Country("TR", 6, (("Istanbul", ""), ("Izmir", ""), ("Bursa", "")), "A.Ş.", "Europe/Istanbul"),
    _Country("KE", 6, (("Nairobi", "内罗毕"), ("Mombasa", "")), "Ltd", "Africa/Nairobi"),
    _Country("BR", 4, (("São Paulo", ""), ("Curitiba", "")), "Ltda.", "America/Sao_Paulo"),
    _Country("DE", 5, (("Hamburg", ""), ("Munich", ""), ("Berlin", "")), "GmbH", "Europe/Berlin"),
    _Country("DK", 3, (("Copenhagen", ""), ("Aarhus", "")), "ApS", "Europe/Copenhagen"),
    _Country("AE", 5, (("Dubai", "迪拜"), ("Sharjah", "")), "LLC", "Asia/Dubai"),
    _Country("ZA", 3, (("Johannesburg", ""), ("Cape Town", "")), "(Pty) Ltd", "Africa/Johannesburg"),
    _Country("VN", 3, (("Ho Chi Minh City", ""), ("Hanoi", "")), "JSC", "Asia/Ho_Chi_Minh"),
    _Country("PK", 3, (("Karachi", ""), ("Lahore", "")), "(Pvt) Ltd", "Asia/Karachi"),
    _Country("US", 3, (("Houston", ""), ("Atlanta", "")), "Inc.", "America/New_York"),
    _Country("FR", 3, (("Lyon", ""), ("Marseille", "")), "SAS", "Europe/Paris"),
    _Country("MY", 3, (("Kuala Lumpur", "吉隆坡"), ("Penang", "槟城")), "Sdn. Bhd.", "Asia/Kuala_Lumpur"),
    _Country("ET", 2, (("Addis Ababa", ""),), "PLC", "Africa/Addis_Ababa"),
    _Country("NG", 2, (("Lagos", ""),), "Ltd", "Africa/Lagos"),
)
_EU = frozenset({"DE", "DK", "FR"})
_COUNTRY_WEIGHTS = tuple(c.weight for c in _SUPPLIER_COUNTRIES)


@dataclass(frozen=True)
class _Agency:
    short: str
    name: str
    name_zh: str
    country: str  # where the procuring office sits (HQ)
    prefixes: dict[NoticeType, str]


_AGENCIES: tuple[_Agency, ...] = (
    _Agency(
        "UNICEF",
        "UNICEF Supply Division",
        "联合国儿童基金会供应司",
        "DK",
        {NoticeType.RFQ: "LRFQ", NoticeType.ITB: "LITB", NoticeType.RFP: "LRPS", NoticeType.EOI: "LEOI"},
    ),
    _Agency(
        "UNDP",
        "United Nations Development Programme",
        "联合国开发计划署",
        "US",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
    _Agency(
        "WFP",
        "World Food Programme",
        "世界粮食计划署",
        "IT",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
    _Agency(
        "UNHCR",
        "UN High Commissioner for Refugees",
        "联合国难民署",
        "CH",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
    _Agency(
        "WHO",
        "World Health Organization",
        "世界卫生组织",
        "CH",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
    _Agency(
        "UNOPS",
        "United Nations Office for Project Services",
        "联合国项目事务署",
        "DK",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
    _Agency(
        "UNFPA",
        "United Nations Population Fund",
        "联合国人口基金",
        "DK",
        {
            NoticeType.RFQ: "UNFPA/RFQ",
            NoticeType.ITB: "UNFPA/ITB",
            NoticeType.RFP: "UNFPA/RFP",
            NoticeType.EOI: "UNFPA/EOI",
        },
    ),
    _Agency(
        "IOM",
        "International Organization for Migration",
        "国际移民组织",
        "CH",
        {NoticeType.RFQ: "RFQ", NoticeType.ITB: "ITB", NoticeType.RFP: "RFP", NoticeType.EOI: "EOI"},
    ),
)

_AGENCY_BY_SHORT = {a.short: a for a in _AGENCIES}

#: Agencies that buy most in a sector (besides everyone else).
_SECTOR_AGENCIES: dict[str, tuple[str, ...]] = {
    "medical_ppe": ("WHO", "UNICEF", "UNFPA", "UNOPS"),
    "pharma": ("UNICEF", "WHO", "UNFPA"),
    "cold_chain": ("UNICEF", "WHO"),
    "diagnostics": ("WHO", "UNDP", "UNFPA"),
    "it": ("UNDP", "UNOPS", "UNHCR", "IOM"),
    "vehicles": ("UNHCR", "WFP", "UNOPS", "IOM"),
    "energy": ("UNDP", "UNOPS", "UNHCR"),
    "wash": ("UNICEF", "UNHCR", "IOM"),
    "shelter": ("UNHCR", "IOM", "UNICEF"),
    "food": ("WFP",),
    "furniture": ("UNICEF", "UNDP"),
    "construction": ("UNOPS", "UNDP", "IOM"),
    "services": ("UNDP", "UNOPS", "WFP"),
}


@dataclass(frozen=True)
class _Place:
    code: str
    name: str
    name_zh: str
    #: Fixed UTC offset of the duty station (deadlines are set in local time, as UNGM publishes them).
    offset: str


_BENEFICIARIES: tuple[_Place, ...] = (
    _Place("AF", "Afghanistan", "阿富汗", "+04:30"),
    _Place("KE", "Kenya", "肯尼亚", "+03:00"),
    _Place("ET", "Ethiopia", "埃塞俄比亚", "+03:00"),
    _Place("SO", "Somalia", "索马里", "+03:00"),
    _Place("SS", "South Sudan", "南苏丹", "+02:00"),
    _Place("SD", "Sudan", "苏丹", "+02:00"),
    _Place("UG", "Uganda", "乌干达", "+03:00"),
    _Place("CD", "DR Congo", "刚果（金）", "+01:00"),
    _Place("NG", "Nigeria", "尼日利亚", "+01:00"),
    _Place("TD", "Chad", "乍得", "+01:00"),
    _Place("MZ", "Mozambique", "莫桑比克", "+02:00"),
    _Place("YE", "Yemen", "也门", "+03:00"),
    _Place("LB", "Lebanon", "黎巴嫩", "+02:00"),
    _Place("UA", "Ukraine", "乌克兰", "+02:00"),
    _Place("BD", "Bangladesh", "孟加拉国", "+06:00"),
    _Place("PK", "Pakistan", "巴基斯坦", "+05:00"),
    _Place("NP", "Nepal", "尼泊尔", "+05:45"),
    _Place("MM", "Myanmar", "缅甸", "+06:30"),
    _Place("HT", "Haiti", "海地", "-05:00"),
    _Place("CO", "Colombia", "哥伦比亚", "-05:00"),
    _Place("CN", "China", "中国", "+08:00"),
)
_PLACES = {p.code: p for p in _BENEFICIARIES}
#: Regional eligibility restrictions seen on UN notices (local or regional sourcing).
_REGIONS: tuple[tuple[str, ...], ...] = (("KE", "UG", "TZ", "RW", "ET"), ("CN",), ("IN", "PK", "BD"), ("TR", "AE"))

_TED_BUYERS: tuple[tuple[str, str, str], ...] = (
    ("European Commission, DG ECHO", "BE", "+01:00"),
    ("Bundesanstalt Technisches Hilfswerk (THW)", "DE", "+01:00"),
    ("Agence française de développement", "FR", "+01:00"),
    ("Danish Emergency Management Agency", "DK", "+01:00"),
    ("Ministerie van Buitenlandse Zaken", "NL", "+01:00"),
    ("Ministry of Health of the Republic of Moldova", "MD", "+02:00"),
)

_NOTICE_TYPE_WEIGHTS: tuple[tuple[NoticeType, int], ...] = (
    (NoticeType.RFQ, 45),
    (NoticeType.ITB, 25),
    (NoticeType.RFP, 20),
    (NoticeType.EOI, 10),
)
_NOTICE_TYPES = tuple(t for t, _ in _NOTICE_TYPE_WEIGHTS)
_NOTICE_TYPE_CUM = tuple(itertools.accumulate(w for _, w in _NOTICE_TYPE_WEIGHTS))
_TYPE_TITLE = {
    NoticeType.RFQ: "Request for quotation",
    NoticeType.ITB: "Invitation to bid",
    NoticeType.RFP: "Request for proposal",
    NoticeType.EOI: "Request for expression of interest",
}
_TYPE_TITLE_ZH = {
    NoticeType.RFQ: "询价",
    NoticeType.ITB: "招标",
    NoticeType.RFP: "征求建议书",
    NoticeType.EOI: "意向书征集",
}
_METHOD = {
    NoticeType.RFQ: ProcurementMethod.OPEN,
    NoticeType.ITB: ProcurementMethod.OPEN,
    NoticeType.RFP: ProcurementMethod.OPEN,
    NoticeType.EOI: ProcurementMethod.SELECTIVE,
}
_LEVELS = (RegistrationLevel.BASIC, RegistrationLevel.LEVEL_1, RegistrationLevel.LEVEL_2)
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


def _unspsc(code: str, title: str) -> Classification:
    return Classification(scheme=CodeScheme.UNSPSC, code=code, description=title)


def _cpv(code_with_check: str, title: str) -> Classification:
    code, _, check = code_with_check.partition("-")
    return Classification(scheme=CodeScheme.CPV, code=code, check_digit=check or None, description=title)


@dataclass(frozen=True)
class _Codes:
    """Classification instances built once per sector (frozen models can be shared by many profiles)."""

    lines: tuple[Classification, ...]
    broad: tuple[Classification, ...]
    cpv: tuple[Classification, ...]


_CODES: dict[str, _Codes] = {
    s.key: _Codes(
        tuple(_unspsc(line.code, line.title) for line in s.lines),
        tuple(_unspsc(code, title) for code, title in s.broad_codes),
        tuple(_cpv(code, title) for code, title in s.cpv),
    )
    for s in SECTORS
}


@functools.cache
def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower().replace(" ", "-") if ch.isascii() and (ch.isalnum() or ch == "-"))


@functools.cache
def _money(amount: float, currency: str) -> Money:
    """Money values are rounded, so few distinct ones exist; frozen models can be shared."""
    return Money(amount=amount, currency=currency)


@functools.cache
def _plain_preferences(frequency: AlertFrequency, language: str, tz: str, digest_hour: int) -> AlertPreferences:
    """Most suppliers set no filter: their preferences differ only in these four values."""
    return AlertPreferences(
        frequency=frequency, language="zh-Hans" if language == "zh-Hans" else "en", timezone=tz, digest_hour=digest_hour
    )


#: Short English / Chinese sector names for company names ("Medical Gloves", "医用手套").
_KIND = {s.key: (s.name_en.split(" and ")[0].split(",")[0].title(), s.name_zh.split("和")[0]) for s in SECTORS}
_COUNTRY_CUM = tuple(itertools.accumulate(_COUNTRY_WEIGHTS))
_LEVEL_CUM = (50, 80, 100)
_AWARDS_CUM = (40, 70, 90, 100)
_ITEMS_CUM = (45, 75, 90, 100)


def _choice(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` at a third of the cost (one ``random()`` call); the hot loops make millions of draws."""
    return seq[int(rng.random() * len(seq))]


def _int(rng: random.Random, low: int, high: int) -> int:
    """Like ``rng.randint(low, high)``, both ends included."""
    return low + int(rng.random() * (high - low + 1))


def _weighted(rng: random.Random, seq: Sequence[T], cum_weights: Sequence[int]) -> T:
    """Like ``rng.choices(seq, cum_weights=...)[0]`` without building a list."""
    return seq[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


def _supplier(rng: random.Random, i: int, seed: int) -> SupplierProfile:
    broad = i < len(SECTORS)
    sector = SECTORS[i] if broad else _choice(rng, SECTORS)
    country = _weighted(rng, _SUPPLIER_COUNTRIES, _COUNTRY_CUM)
    city_en, city_zh = _choice(rng, country.cities)
    stem_en, stem_zh = _choice(rng, sector.stems)
    kind_en, kind_zh = _KIND[sector.key]

    names = {"en": f"{city_en} {stem_en} {kind_en} {country.suffix_en}".replace("  ", " ")}
    zh_name = country.code == "CN" or (bool(city_zh) and rng.random() < 0.5)
    if zh_name:
        names["zh-Hans"] = f"{city_zh or ''}{stem_zh}{kind_zh}有限公司"

    codes = _CODES[sector.key]
    if broad:
        declared = [*codes.broad, *codes.lines, *codes.cpv]
        second = None
    else:
        declared = rng.sample(codes.lines, k=_int(rng, 1, min(3, len(codes.lines))))
        if rng.random() < 0.4:
            declared.append(_choice(rng, codes.broad))
        if country.code in _EU or rng.random() < 0.25:
            declared.append(_choice(rng, codes.cpv))
        # Some suppliers trade in two sectors (a medical distributor that also sells cold chain equipment).
        second = _choice(rng, SECTORS) if rng.random() < 0.2 else None
        if second is not None and second.key != sector.key:
            declared.append(_choice(rng, _CODES[second.key].lines))

    keywords = list(rng.sample(sector.keywords_en, k=min(len(sector.keywords_en), _int(rng, 2, 4))))
    description = {
        "en": f"{names['en']} supplies {sector.name_en} ({', '.join(keywords)}) to UN agencies and NGOs from {city_en}."
    }
    if zh_name:
        zh_keywords = rng.sample(sector.keywords_zh, k=min(len(sector.keywords_zh), 3))
        keywords.extend(zh_keywords)
        description["zh-Hans"] = (
            f"{names['zh-Hans']}向联合国机构和非政府组织供应{sector.name_zh}（{'、'.join(zh_keywords)}）。"
        )

    level = _weighted(rng, _LEVELS, _LEVEL_CUM)
    low, high = sector.value_range
    max_value = _money(float(round(rng.uniform(low, high * 2), -3)), "USD")

    awards = []
    for _ in range(_weighted(rng, (0, 1, 2, 3), _AWARDS_CUM)):
        code = _choice(rng, declared)
        awarded_on = (_SUPPLIER_EPOCH - timedelta(days=_int(rng, 30, 3 * 365))).date()
        agency = _choice(rng, _SECTOR_AGENCIES[sector.key])
        awards.append(
            PastAward.model_construct(
                agency=agency,
                description=code.description or sector.name_en,
                classification=code,
                date=date(awarded_on.year, awarded_on.month, awarded_on.day),
                value=_money(float(round(rng.uniform(low, high), -3)), "USD"),
            )
        )

    language = "zh-Hans" if zh_name and rng.random() < (0.8 if country.code == "CN" else 0.3) else "en"
    frequency = AlertFrequency.DAILY_DIGEST if rng.random() < 0.25 else AlertFrequency.IMMEDIATE
    digest_hour = _choice(rng, (7, 8, 9))
    if rng.random() < 0.35:
        preferences = AlertPreferences.model_construct(
            codes=[_choice(rng, declared).code] if rng.random() < 0.5 else [],
            countries=rng.sample([p.code for p in _BENEFICIARIES], k=3) if rng.random() < 0.3 else [],
            agencies=[_choice(rng, _SECTOR_AGENCIES[sector.key])] if rng.random() < 0.3 else [],
            min_value=_money(float(low), "USD") if rng.random() < 0.4 else None,
            frequency=frequency,
            language="zh-Hans" if language == "zh-Hans" else "en",
            timezone=country.tz,
            digest_hour=digest_hour,
            unsubscribed=rng.random() < 0.05,
        )
    else:
        preferences = _plain_preferences(frequency, language, country.tz, digest_hour)

    number = _supplier_number(i, seed)
    slug = _slug(f"{city_en}-{stem_en}")
    domain = f"{slug}-{number:07d}.{_choice(rng, _EMAIL_DOMAINS)}"
    emails = [f"tenders@{domain}"]
    if rng.random() < 0.3:
        emails.append(f"sales@{domain}")
    certs = rng.sample(sector.certifications, k=_int(rng, 0, min(3, len(sector.certifications))))
    return SupplierProfile.model_construct(
        supplier_id=f"sup-{country.code.lower()}-{number:07d}",
        names=names,
        country=country.code,
        emails=emails,
        codes=declared,
        keywords=keywords,
        description=description,
        certifications=certs,
        registration_level=RegistrationLevel.LEVEL_2 if broad else level,
        max_contract_value=max_value,
        past_awards=awards,
        preferences=preferences,
        updated_at=_SUPPLIER_EPOCH - timedelta(days=_int(rng, 0, 60), seconds=_int(rng, 0, 86_399)),
    )


#: Generated supplier numbers (the last 7 digits of an id) cycle after this many profiles.
_NUMBERS = 10_000_000


def _supplier_number(i: int, seed: int) -> int:
    return (seed * 1_000_003 + i) % _NUMBERS


def supplier_position(supplier_id: str, seed: int = 7) -> int:
    """Which profile of ``iter_suppliers(n, seed)`` (its ``i``, for ``n`` up to ten million) has this id: a
    benchmark finds a candidate's row in its own arrays without a dictionary of a million ids."""
    digits = supplier_id.rsplit("-", 1)[-1]
    if not (supplier_id.startswith("sup-") and len(digits) == 7 and digits.isdigit()):
        raise ValueError(f"not a generated supplier id: {supplier_id!r}")
    return (int(digits) - seed * 1_000_003) % _NUMBERS


def generate_suppliers(n: int, seed: int = 7) -> list[SupplierProfile]:
    """``n`` supplier profiles, the same ones for the same ``seed``.

    About 40% are Chinese (names and descriptions also in ``zh-Hans``), the rest from India, Turkey, Kenya,
    Brazil, Germany, the UAE and others. The first ``min(n, 13)`` are broad distributors, one per sector.
    """
    return list(iter_suppliers(n, seed))


def iter_suppliers(n: int, seed: int = 7) -> Iterator[SupplierProfile]:
    """The profiles of ``generate_suppliers(n, seed)``, one at a time (a million of them do not fit in memory as a
    list); the first ``m`` are the same for any ``n >= m``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    return (_supplier(rng, i, seed) for i in range(n))


#: Suppliers written by hand beside the generated ones: a firm as tenderbridge exists for, which describes itself in
#: Chinese only and has never heard of UNSPSC or CPV (no code, no English, no award history). The matcher finds it
#: for English notices by meaning and by the codes it suggests from this description (issue 14).
SHOWCASE_SUPPLIERS: tuple[SupplierProfile, ...] = (
    SupplierProfile(
        supplier_id="sup-cn-showcase-gloves",
        names={"zh-Hans": "宁波安康手套有限公司"},
        country="CN",
        emails=["tenders@ningbo-ankang-gloves.example.com"],
        keywords=["医用手套", "丁腈检查手套", "外科手套"],
        description={"zh-Hans": "一次性医用手套生产厂家：丁腈检查手套、乳胶外科手套，无粉，年产5亿只，CE/FDA认证"},
        preferences=AlertPreferences(language="zh-Hans", timezone="Asia/Shanghai"),
        updated_at=_SUPPLIER_EPOCH,
    ),
)


def showcase_suppliers() -> list[SupplierProfile]:
    """``SHOWCASE_SUPPLIERS`` as a list (the demo data writes them after the generated suppliers)."""
    return list(SHOWCASE_SUPPLIERS)


def _tz(offset: str) -> timezone:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = offset[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def _local_deadline(rng: random.Random, now: datetime, offset: str) -> datetime:
    """A deadline 3-40 days after ``now``, on a round local hour (as portals publish them), returned in UTC."""
    base = now + timedelta(days=_int(rng, 3, 40), hours=_int(rng, 0, 23))
    local = base.astimezone(_tz(offset)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return local.astimezone(UTC)


def _notice(rng: random.Random, i: int, seed: int, now: datetime) -> TenderNotice:
    sector = SECTORS[i % len(SECTORS)] if i < len(SECTORS) else _choice(rng, SECTORS)
    codes = _CODES[sector.key]
    number = _supplier_number(i, seed)
    n_items = _weighted(rng, (1, 2, 3, 4), _ITEMS_CUM)
    picked = rng.sample(range(len(sector.lines)), k=min(n_items, len(sector.lines)))
    low, high = sector.value_range
    value = float(round(rng.uniform(low, high), -2))
    published = now - timedelta(days=_int(rng, 0, 10), hours=_int(rng, 0, 23))

    roll = rng.random()
    if roll < 0.15:
        # TED-style contract notice from a European buyer: CPV codes, EUR, open procedure.
        buyer_name, buyer_country, offset = _choice(rng, _TED_BUYERS)
        year = now.year
        items = [
            Item.model_construct(
                id=str(k + 1),
                description=sector.lines[j].item_en,
                classification=_choice(rng, codes.cpv),
                additional_classifications=[],
                quantity=float(_choice(rng, (1, 5, 10, 50, 100, 500, 1000))),
                unit=sector.lines[j].unit,
            )
            for k, j in enumerate(picked)
        ]
        return TenderNotice.model_construct(
            notice_id=f"ted:{number:07d}-{year}",
            source="ted",
            source_id=f"{number:07d}-{year}",
            notice_type=NoticeType.CONTRACT_NOTICE,
            title=f"{sector.name_en.capitalize()}: {sector.lines[picked[0]].item_en.split(',')[0]}",
            description=f"Framework agreement for the supply of {sector.name_en} for humanitarian operations.",
            language="en",
            buyer=Buyer.model_construct(name=buyer_name, country=buyer_country),
            items=items,
            classifications=[],
            delivery_countries=[buyer_country],
            beneficiary_countries=[],
            estimated_value=Money.model_construct(amount=value, currency="EUR") if rng.random() < 0.8 else None,
            procurement_method=ProcurementMethod.OPEN,
            published_at=published,
            published_utc_offset=offset,
            deadline_at=_local_deadline(rng, now, offset),
            deadline_utc_offset=offset,
            documents=[
                Document.model_construct(
                    url=f"https://ted.example.eu/en/notice/-/detail/{number:07d}-{year}",
                    title="Contract notice",
                    document_type="tenderNotice",
                    language="en",
                )
            ],
            source_url=f"https://ted.example.eu/en/notice/-/detail/{number:07d}-{year}",
            changes=[],
            warnings=[],
        )

    chinese = roll > 0.92
    favourites = _SECTOR_AGENCIES[sector.key]
    agency = _AGENCY_BY_SHORT[_choice(rng, favourites)] if rng.random() < 0.7 else _choice(rng, _AGENCIES)
    ntype = _weighted(rng, _NOTICE_TYPES, _NOTICE_TYPE_CUM)
    place = _PLACES["CN"] if chinese and rng.random() < 0.5 else _choice(rng, _BENEFICIARIES)
    beneficiaries = [place.code]
    if rng.random() < 0.15:
        beneficiaries.extend(p.code for p in rng.sample(_BENEFICIARIES, k=2) if p.code != place.code)
    source_id = f"{agency.prefixes[ntype]}-{now.year}-{number:07d}"
    items = []
    for k, j in enumerate(picked):
        line = sector.lines[j]
        # UNGM often publishes a class-level code next to the commodity: keep both, as the source does.
        extra = [_choice(rng, codes.broad)] if rng.random() < 0.2 else []
        items.append(
            Item.model_construct(
                id=str(k + 1),
                description=line.item_zh if chinese else line.item_en,
                classification=codes.lines[j],
                additional_classifications=extra,
                quantity=float(_choice(rng, (10, 50, 100, 250, 1000, 5000, 20000))),
                unit=line.unit,
            )
        )
    first = sector.lines[picked[0]]
    if chinese:
        title = f"{_TYPE_TITLE_ZH[ntype]}：为{place.name_zh}采购{first.item_zh.split('，')[0]}"
        description = f"{agency.name_zh}邀请合格供应商就{place.name_zh}项目所需的{sector.name_zh}提交报价。"
        language = "zh-Hans"
    else:
        title = f"{_TYPE_TITLE[ntype]}: {first.item_en.split(',')[0]} for {place.name}"
        description = (
            f"{agency.name} invites qualified suppliers to submit offers for {sector.name_en} "
            f"({', '.join(sector.lines[j].title.lower() for j in picked)}) to be delivered to {place.name}."
        )
        language = "en"
    eligible = list(_choice(rng, _REGIONS)) if rng.random() < 0.08 else None
    required = _choice(rng, (RegistrationLevel.LEVEL_1, RegistrationLevel.LEVEL_2)) if rng.random() < 0.2 else None
    url = f"https://ungm.example.org/Public/Notice/{number}"
    return TenderNotice.model_construct(
        notice_id=f"ungm:{source_id}",
        source="ungm",
        source_id=source_id,
        notice_type=ntype,
        title=title,
        description=description,
        language=language,
        buyer=Buyer.model_construct(name=agency.short, id=agency.short.lower(), country=agency.country),
        items=items,
        # UNGM lists codes per notice too; some notices carry the sector's class code only at notice level.
        classifications=[_choice(rng, codes.broad)] if rng.random() < 0.3 else [],
        delivery_countries=[place.code],
        beneficiary_countries=beneficiaries,
        eligible_supplier_countries=eligible,
        required_registration_level=required,
        estimated_value=Money.model_construct(amount=value, currency="USD") if rng.random() < 0.6 else None,
        procurement_method=_METHOD[ntype],
        published_at=published,
        published_utc_offset=place.offset,
        deadline_at=_local_deadline(rng, now, place.offset),
        deadline_utc_offset=place.offset,
        documents=[
            Document.model_construct(
                url=f"{url}/documents/1",
                title="Solicitation documents",
                document_type="biddingDocuments",
                language=language,
            )
        ],
        source_url=url,
        changes=[],
        warnings=[],
    )


def generate_notices(n: int, seed: int = 7, now: datetime | None = None) -> list[TenderNotice]:
    """``n`` open notices (version 1, active) published in the 10 days before ``now`` with deadlines 3-40 days
    after it. About 15% are TED-style (CPV, EUR), about 8% are in Chinese; the rest are UN agency notices with
    UNSPSC codes. The same ``(n, seed, now)`` gives the same notices; ``now`` defaults to the current time."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    return [_notice(rng, i, seed, now) for i in range(n)]
