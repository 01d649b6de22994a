"""Azure Functions entry points (Python v2 model). Triggers only: the work is in
``hrupload.app.pipeline``, the same code ``hrupload process`` and ``hrupload sweep`` run,
and the web page in ``hrupload.web``.

The blob trigger binds an SDK ``BlobClient``, not the blob's bytes: the host then
passes a reference and the pipeline streams the file, however large it is.
"""

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from hrupload import functions
from hrupload.settings import trigger_bindings

app = func.FunctionApp()

_INCOMING, _SOURCE_NAME = trigger_bindings()
_SOURCE = (
    func.BlobSource.LOGS_AND_CONTAINER_SCAN
    if _SOURCE_NAME == "LogsAndContainerScan"
    else func.BlobSource.EVENT_GRID  # the only blob trigger Flex Consumption supports
)


@app.function_name("process_incoming_blob")
@app.blob_trigger(
    arg_name="client", path=f"{_INCOMING}/{{name}}", connection="HR_STORAGE", source=_SOURCE
)
def process_incoming_blob(client: blob.BlobClient) -> None:
    functions.on_blob(client)


@app.function_name("daily_sweep")
@app.timer_trigger(
    arg_name="timer", schedule="%HRUPLOAD_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def daily_sweep(timer: func.TimerRequest) -> None:
    functions.on_timer(timer)


@app.function_name("web")
@app.route(route="{*path}", auth_level=func.AuthLevel.ANONYMOUS, methods=["GET", "POST"])
def web(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    # Anonymous for the host: the app's built-in authentication (Easy Auth) is in front,
    # and hrupload.web lets no request in without it (or, locally, without the key).
    return functions.on_http(req, context)
