from services.matcher.entrypoints.cli import app

app(prog_name="python -m services.matcher")
