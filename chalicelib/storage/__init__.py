"""The only code that talks to DynamoDB (PynamoDB) and the secret store (boto3)."""
