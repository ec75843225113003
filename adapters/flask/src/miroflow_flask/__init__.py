"""miroflow-flask: Miro's "Install & authorize" in a Flask app, as a blueprint.

app.register_blueprint(miroflow_flask.blueprint(client))  # GET /miro/login, GET <redirect path>
tokens = miroflow_flask.current_tokens()  # in a request: the session's user's tokens, or None
"""

from ._blueprint import SESSION_KEY, blueprint, current_tokens, page_response

__all__ = ["SESSION_KEY", "blueprint", "current_tokens", "page_response"]
