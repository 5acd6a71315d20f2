from services.ingest.entrypoints.cli import app

app(prog_name="python -m services.ingest")
