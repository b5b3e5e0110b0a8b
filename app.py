"""The Chalice app: blueprints and event handlers only; the logic lives in chalicelib."""

import gc

# What the import builds (classes, schemas, routes: ~90,000 objects) lives as long as the
# container, so the collector's passes over it while importing find nothing to free: about a
# tenth of the import. Collect none while importing, and keep these objects out of every later
# collection (bootstrap.deps() does the same for the storage the first request builds).
collecting = gc.isenabled()
gc.disable()
try:
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
finally:
    gc.freeze()
    if collecting:
        gc.enable()
