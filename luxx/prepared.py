"""Querysets compiled to SQL once, then run with new values; and rows inserted without
compiling an INSERT for each.

Django compiles a queryset to SQL every time it runs it. For the few lookups on the path
of every streaming turn (the user of a token, the conversation with its provider and
agent) compiling costs several times what running the query does, so those are compiled
once per process and database here, and each run only binds its values.

A prepared query is built from placeholder values of declared kinds (``int`` or ``str``),
and each of them must reach the SQL only as parameters: equality lookups, never a value
that shapes the query (``None``, a list, an empty ``none()``). Compiling checks that each
placeholder became a parameter, and refuses the query otherwise. What a run returns is
what the queryset itself returns: model instances (with their ``select_related`` rows
and annotations) or, for a ``values_list`` queryset, tuples, each value converted as
Django converts it.

:class:`PreparedInsert` does for ``Model.objects.create()`` what :class:`PreparedQuery`
does for lookups: each create compiles its INSERT anew (quoting every column, building
each value's placeholder), which costs about as much as running it. Here the statement
is built once per database, and each create only prepares its values as Django does
(``pre_save``, then ``get_db_prep_save``). For models whose key is made in Python (a
default), with no save signals received and no field that needs a placeholder of its
own; it refuses a model it cannot insert that way.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet, signals
from django.db.models.query import ModelIterable, get_related_populators

M = TypeVar("M", bound=Model)

_counter = itertools.count(1)


def _placeholder(kind: type, number: int) -> Any:
    if kind is int:
        return -(2**62) - number
    if kind is str:
        return f"\x00luxx-prepared-{number}\x00"
    raise TypeError(f"a prepared query's values are int or str, not {kind.__name__}")


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    slots: tuple[tuple[str | None, Any], ...]  # (value name, or None and the constant)
    compiler: Any
    converters: dict[int, Any]
    # For model rows (None for values_list): the model's columns, where they start and
    # end in a row, and the populators of its select_related rows.
    init_list: list[str] | None
    model_columns: tuple[int, int]
    populators: list[Any]


class PreparedQuery(Generic[M]):
    """``build(**values)`` compiled once per database; :meth:`run` binds new values.

    ``kinds`` names each value and its type, e.g. ``PreparedQuery(build, user_id=int)``."""

    def __init__(self, build: Callable[..., QuerySet[M, Any]], **kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        self._compiled: dict[str, _Compiled] = {}
        self._model: type[Model] | None = None
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        with self._lock:
            compiled = self._compiled.get(alias)
            if compiled is not None:
                return compiled
            placeholders = {name: _placeholder(kind, next(_counter)) for name, kind in self._kinds.items()}
            queryset = self._build(**placeholders)
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            names = {value: name for name, value in placeholders.items()}
            slots = tuple(
                (name, None) if (name := names.get(param) if isinstance(param, (int, str)) else None) else (None, param) for param in params
            )
            missing = set(placeholders) - {name for name, _ in slots if name}
            if missing:
                raise ValueError(f"prepared query: {sorted(missing)} did not become query parameters")
            fields = [column[0] for column in compiler.select[: compiler.col_count]]
            init_list, model_columns, populators = None, (0, 0), []
            if queryset._iterable_class is ModelIterable:
                klass_info, select = compiler.klass_info, compiler.select
                model_columns = (klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1)
                init_list = [column[0].target.attname for column in select[model_columns[0] : model_columns[1]]]
                populators = get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]  # Django 5.2's signature
            compiled = _Compiled(sql, slots, compiler, compiler.get_converters(fields), init_list, model_columns, populators)
            self._compiled[alias] = compiled
            return compiled

    def run(self, **values: Any) -> Iterator[Any]:
        """The rows of the query for ``values``: model instances or tuples, as the
        queryset would give them."""
        if values.keys() != self._kinds.keys():
            raise TypeError(f"prepared query takes {sorted(self._kinds)}, not {sorted(values)}")
        if self._model is None:
            self._model = self._build(**{name: _placeholder(kind, 0) for name, kind in self._kinds.items()}).model
        alias = router.db_for_read(self._model)
        compiled = self._compiled.get(alias) or self._compile(alias)
        bound = {name: self._kinds[name](value) for name, value in values.items()}
        params = [bound[name] if name else constant for name, constant in compiled.slots]
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        if compiled.init_list is None:
            return map(tuple, rows)
        return self._instances(compiled, rows, alias)

    def first(self, **values: Any) -> Any:
        """The first row for ``values``, or None."""
        return next(self.run(**values), None)

    @staticmethod
    def _instances(compiled: _Compiled, rows: list[Any], alias: str) -> Iterator[Any]:
        model_class = compiled.compiler.klass_info["model"]
        start, end = compiled.model_columns
        annotations = compiled.compiler.annotation_col_map
        for row in rows:
            instance = model_class.from_db(alias, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, instance)
            for name, position in annotations.items():
                setattr(instance, name, row[position])
            yield instance


class PreparedInsert(Generic[M]):
    """``model.objects.create(**values)`` with its INSERT built once per database."""

    def __init__(self, model: type[M]) -> None:
        meta = model._meta
        if meta.pk is None or not meta.pk.has_default() or meta.pk.db_returning:
            raise ValueError(f"prepared insert: {model.__name__}'s key is not made in Python")
        self._model = model
        self._fields = [field for field in meta.local_concrete_fields if not getattr(field, "generated", False)]
        if any(hasattr(field, "get_placeholder") for field in self._fields):
            raise ValueError(f"prepared insert: a field of {model.__name__} needs a placeholder of its own")
        self._sql: dict[str, str] = {}

    def _statement(self, alias: str) -> str:
        sql = self._sql.get(alias)
        if sql is None:
            quote = connections[alias].ops.quote_name
            columns = ", ".join(quote(str(field.column)) for field in self._fields)
            placeholders = ", ".join(["%s"] * len(self._fields))
            sql = self._sql[alias] = f"INSERT INTO {quote(self._model._meta.db_table)} ({columns}) VALUES ({placeholders})"
        return sql

    def create(self, **values: Any) -> M:
        """A new row, as ``objects.create(**values)`` makes it, for plain values (not query
        expressions) and a model without save signal receivers (both checked)."""
        for signal in (signals.pre_save, signals.post_save):
            if signal.has_listeners(self._model):
                raise ValueError(f"prepared insert: {self._model.__name__} has save signal receivers")
        if any(hasattr(value, "resolve_expression") for value in values.values()):
            raise TypeError("prepared insert: values are plain values, not query expressions")
        instance = self._model(**values)
        alias = router.db_for_write(self._model, instance=instance)
        connection = connections[alias]
        params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in self._fields]
        with connection.cursor() as cursor:
            cursor.execute(self._statement(alias), params)
        instance._state.adding = False
        instance._state.db = alias
        return instance
