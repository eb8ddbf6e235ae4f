"""``keyforge up``/``down``/``secret rotate``: the whole fleet on one machine, supervised.

Embedded Valkey and PostgreSQL (from their wheels), Apache httpd when
installed, a dev CA for TLS, port planning, process supervision and the
rolling secret rotation. Tests and benchmarks start servers through this
package.
"""
