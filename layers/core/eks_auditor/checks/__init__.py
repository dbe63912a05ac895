"""Pure checks: snapshot -> outcomes. Nothing here imports boto3, botocore or Powertools."""
