"""Security: the server secret, and (later) authentication, authorization and audit."""
