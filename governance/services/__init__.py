"""Every governance state change goes through a function here, with its audit event."""
