"""Entry point of the web app: `streamlit run Home.py`. Navigation lives in `lib/ui.py`."""

from lib import ui

ui.run_app()
