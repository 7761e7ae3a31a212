"""Routes and Lambda functions only; everything else lives in chalicelib.

One API serves the three services of the seed's "API Reference": the control
plane (AWS JSON 1.1, `POST /`), Personalize Runtime (`POST /recommendations`,
`POST /personalize-ranking`, `POST /action-recommendations`) and Personalize Events
(`POST /events`, `/items`, `/users`, `/actions`, `/action-interactions`): every
request URI of today's stock models and the seed's. `GET /console/` serves the web console's
static page (chalicelib/console), whose calls are signed requests to the routes above.
"""
from chalice import Chalice

from chalicelib import console, observability
from chalicelib.protocol import http

app = Chalice(app_name="personalize")
observability.register(app)  # one structured log line per invocation (Powertools Logger)

ANY = ["*/*"]  # the protocol layer answers a wrong content type with a typed error


@app.route("/", methods=["POST"], content_types=ANY)
def control_plane():
    return http.handle(app.current_request)


@app.route("/recommendations", methods=["POST"], content_types=ANY)
def recommendations():
    return http.handle(app.current_request)


@app.route("/personalize-ranking", methods=["POST"], content_types=ANY)
def personalize_ranking():
    return http.handle(app.current_request)


@app.route("/events", methods=["POST"], content_types=ANY)
def events():
    return http.handle(app.current_request)


@app.route("/action-recommendations", methods=["POST"], content_types=ANY)
def action_recommendations():
    return http.handle(app.current_request)


@app.route("/items", methods=["POST"], content_types=ANY)
def put_items():
    return http.handle(app.current_request)


@app.route("/users", methods=["POST"], content_types=ANY)
def put_users():
    return http.handle(app.current_request)


@app.route("/actions", methods=["POST"], content_types=ANY)
def put_actions():
    return http.handle(app.current_request)


@app.route("/action-interactions", methods=["POST"], content_types=ANY)
def put_action_interactions():
    return http.handle(app.current_request)


@app.route("/console", methods=["GET"])
def console_index():
    """The web console's page (chalicelib/console): public assets; its calls are signed."""
    return console.serve(headers=app.current_request.headers)


@app.route("/console/{name}", methods=["GET"])
def console_asset(name):
    return console.serve(name, headers=app.current_request.headers)


@app.route("/console/upload", methods=["POST"], content_types=ANY)
def console_upload():
    """A CSV file from the console to the stack's data bucket (chalicelib/service/uploads.py):
    signed and authorised like every call."""
    return http.handle_project(app.current_request)


@app.route("/{proxy+}", methods=["GET", "POST", "PUT", "DELETE"], content_types=ANY)
def unknown_route():
    return http.handle(app.current_request)


@app.lambda_function(name="tasks")
def tasks(event, context):
    """Every Task state of every state machine (see chalicelib.workflows.tasks)."""
    from chalicelib.workflows.tasks import run_task
    return run_task(event)


@app.lambda_function(name="trainer")
def trainer(event, context):
    """The training workflow's trainer on the `lambda` backend (chalicelib.training.lambda_trainer)."""
    from chalicelib.workflows.training import trainer as train
    return train(event, context)
