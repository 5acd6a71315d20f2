from services.notifier.entrypoints.cli import app

app(prog_name="python -m services.notifier")
