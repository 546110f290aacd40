"""What the service tells its operators: the pipeline log, the audit log, metrics."""
