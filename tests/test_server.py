"""The app starts under `streamlit run` and answers its health check."""

import pytest

from tests.support import AppServer, http_get


@pytest.mark.slow
def test_streamlit_run_serves_the_app(app_server: AppServer) -> None:
    assert http_get(f"{app_server.url}/_stcore/health") == (200, "ok")
    status, page = http_get(f"{app_server.url}/")
    assert status == 200
    assert '<div id="root">' in page
    assert "Traceback" not in app_server.output()
