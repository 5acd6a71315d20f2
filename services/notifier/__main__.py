from services.notifier.entrypoints.cli import cli

if __name__ == "__main__":
    cli(prog_name="python -m services.notifier")
