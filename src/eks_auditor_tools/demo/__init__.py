"""The embedded demo: the real handlers, end to end, against an in-process moto account."""
