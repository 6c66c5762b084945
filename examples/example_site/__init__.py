"""An example Django project that sends through Anymail and receives its webhooks."""
