"""The notification core (pure): routes, grouping stages, reasons, payloads, delivery decisions."""
