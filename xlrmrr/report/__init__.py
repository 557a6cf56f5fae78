"""Reports: text, JSON and binary payloads for the commands."""
