from services.matcher.entrypoints.cli import app
from services.matcher.entrypoints.worker import one_native_thread

one_native_thread()
app(prog_name="python -m services.matcher")
