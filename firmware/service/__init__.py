"""Running as a service: systemd notification and watchdog, logging, the unit file."""
