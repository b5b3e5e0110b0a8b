"""The Chalice app: blueprints and event handlers only; the logic lives in chalicelib."""

from chalicelib.long_lived import long_lived  # the import builds what the container keeps

with long_lived():
    from chalice.app import Chalice

    from chalicelib.api import cards, contributions, me, me_payments, meta, payments, stays, webhooks
    from chalicelib.api.middleware import problem_middleware
    from chalicelib.logs import configure
    from chalicelib.settings import settings
    from chalicelib.workers import contributions as contribution_worker

    configure(settings().log_level)
    app = Chalice(app_name="sscard")
    app.register_middleware(problem_middleware, "http")
    for blueprint in (meta.bp, cards.bp, webhooks.bp, me.bp, contributions.bp, payments.bp, me_payments.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(stays.bp)
    # Queue handlers (each is a Lambda function of its own, fed by its SQS queue).
    app.register_blueprint(contribution_worker.bp)
