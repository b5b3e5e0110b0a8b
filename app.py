"""The Chalice app: blueprints and event handlers only; the logic lives in chalicelib."""

from chalice.app import Chalice

from chalicelib.api import cards, me, meta, webhooks
from chalicelib.api.middleware import problem_middleware
from chalicelib.logs import configure
from chalicelib.settings import settings

configure(settings().log_level)
app = Chalice(app_name="sscard")
app.register_middleware(problem_middleware, "http")
for blueprint in (meta.bp, cards.bp, webhooks.bp, me.bp):
    app.register_blueprint(blueprint)
