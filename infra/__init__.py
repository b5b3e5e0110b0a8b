"""The AWS deployment as code: a CDK v2 app around Chalice's CDK construct.

Pure-Python modules (no CDK import, usable by the local stack and the tests):
  stage     the Chalice stage configuration and its environment variables
  tables    one table definition per PynamoDB model in ALL_MODELS
  queues    one queue (and its dead-letter queue) per SQS handler of the Chalice app
  access    what each function may touch: tables, queues, secrets
  gateway   API Gateway responses as problem+json, and the API's limits

CDK modules: stack (the stack), synth (the entry point: `python infra/synth.py`).
"""
