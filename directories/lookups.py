"""`field__any_of=ids`: one array parameter for any number of ids, on PostgreSQL.

`field__in` sends one placeholder per value: SQLite takes at most 999 of them, and on
PostgreSQL binding and parsing thousands of them costs more than the lookup itself. The
sync engine looks rows up by ids through `incremental.matching`, which takes this lookup on
PostgreSQL and chunks of `__in` elsewhere.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [[self.lhs.output_field.get_db_prep_value(v, connection) for v in value]]

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            raise NotImplementedError("any_of takes an array: PostgreSQL only")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


# Foreign keys keep lookups of their own: ids of the rows they name, by the same array.
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
