"""A minimal Django project that every package's tests run inside."""
