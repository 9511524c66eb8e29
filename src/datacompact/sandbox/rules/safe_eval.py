"""Rule: no row value can change whether a query fails, in every mode but records.

A query that fails on one row and not on another is a yes/no oracle:
``WHERE CASE WHEN <condition on one person> THEN CAST('x' AS INTEGER) ELSE 1
END = 1`` succeeds or fails depending on that person, counted or not, and a
generic error message does not help, since *whether* it fails is the answer.
DuckDB evaluates expressions only on the rows that reach them, so even a
constant that cannot be converted fails on some data and not on other data.
This rule therefore rewrites the user's tree, before any platform SQL is
added, so that DuckDB cannot raise on a value:

* every ``CAST`` becomes ``TRY_CAST``, and every scalar expression that is
  more than a bare column or literal is evaluated inside DuckDB's ``TRY(...)``
  (NULL instead of a conversion, overflow or division error), at the largest
  subexpression that holds no aggregate, window or subquery, since ``TRY``
  cannot contain them. A condition whose type is not known to be boolean is
  ``TRY(TRY_CAST(... AS BOOLEAN))``: WHERE's own cast of a text column fails too;
* SUM, AVG, MEDIAN and STDDEV read their argument as DOUBLE (DuckDB's DECIMAL and
  HUGEINT sums overflow and raise; a DOUBLE sum goes to infinity). The
  aggregates a DP release replaces with noise keep their bare column;
* what is computed *from* aggregates, windows and subqueries (HAVING
  ``SUM(x) * 2 > 10``, ``QUALIFY ROW_NUMBER() OVER (...) <= 3``) cannot be
  wrapped in ``TRY``, so it is computed in DOUBLE, where arithmetic and
  comparisons never raise: each aggregate under an operator is
  ``TRY_CAST(... AS DOUBLE)``, and CASE/COALESCE branches of mixed types are
  returned as text. Anything else built from them (text, dates, ``//``) is
  refused, and so is a string literal compared with them;
* comparisons DuckDB would make by casting one side at run time are made on
  text when ``TRY`` cannot hold them: an equality of two columns of two tables
  (kept as an equality so that the join stays a hash join), ``x IN (SELECT
  ...)``, and the outputs of UNION, INTERSECT and EXCEPT, whose branches are
  unified by casting;
* a scalar subquery returns at most one row (``LIMIT 1``): DuckDB raises on a
  second row, which would tell that one exists.

Refused at analysis, before any data is read (rule ``data_dependent_*``):
LIKE patterns and TRIM characters that are not string literals, STRFTIME
formats and date parts that are not literals of the specifiers and parts
listed in :mod:`datacompact.sandbox._allow`, SUBSTRING, LEFT, RIGHT and ROUND arguments that
are not integer literals, window frames with an offset other than an integer
literal of a ROWS frame. Errors outside ``TRY``'s reach (a LIKE escape is a
syntax error; ``error()`` is not on the allow-list at all) then cannot happen.

The rule reads only the user's tree (it runs before :mod:`.dp_release`,
:mod:`.entity_threshold` and :mod:`.govern_tables`), so it never touches the
platform's own SQL; :mod:`.govern_tables` makes its mask casts and row filter
safe itself (DuckDB may evaluate them only on the rows the user's predicates
selected). Under ``records`` nothing changes: that mode releases the rows anyway.

>>> from datacompact.sandbox.examples import demo_plan
>>> safe_eval(demo_plan(
...     "SELECT district, SUM(income) AS s FROM sbk WHERE CAST(phone AS INT) > 1 "
...     "GROUP BY district HAVING SUM(income) * 2 > 10")).sql()
'SELECT sbk.district AS district, SUM(TRY_CAST(sbk.income AS DOUBLE)) AS s FROM sbk AS sbk WHERE TRY(TRY_CAST(sbk.phone AS INT) > 1) GROUP BY sbk.district HAVING SUM(TRY_CAST(sbk.income AS DOUBLE)) * 2 > 10'
>>> safe_eval(demo_plan("SELECT phone FROM sbk WHERE phone LIKE district", "masked_records"))
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: LIKE 的模式必须是字符串常量 / in this output mode a LIKE pattern must be a string literal
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from sqlglot import exp

from datacompact.sandbox import _allow
from datacompact.sandbox.plan import Plan, refuse

DOUBLE = exp.DType.DOUBLE
TEXT = exp.DType.VARCHAR
BOOLEAN = exp.DType.BOOLEAN
#: The largest frame offset DuckDB takes without a run-time conversion error.
_MAX_OFFSET = 2**63 - 1


class _Want(Enum):
    """The type a position needs: ``ANY`` keeps the expression's own."""

    ANY = "any"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TEXT = "text"


_AGGREGATES = tuple(_allow.AGGREGATES)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)
_UNARY = (exp.Neg, exp.Abs, exp.Floor, exp.Ceil, exp.Round)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_BOOLEANS = (
    *_COMPARISONS,
    exp.Like,
    exp.ILike,
    exp.In,
    exp.Between,
    exp.Is,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Exists,
    exp.Boolean,
)
_CHOICES = (exp.Coalesce, exp.Greatest, exp.Least, exp.Nullif)
#: Nodes with a pattern, format, part, length or frame offset to check.
_ARGUMENTED = (
    exp.Like,
    exp.ILike,
    exp.TimeToStr,
    exp.Trim,
    exp.DateTrunc,
    exp.TimestampTrunc,
    exp.DateDiff,
    exp.Extract,
    exp.Anonymous,
    exp.Substring,
    exp.Left,
    exp.Right,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.WindowSpec,
)
#: Aggregates and window functions whose result is a number whatever they read.
_NUMERIC_ATOMS: tuple[type[exp.Expr], ...] = (
    exp.Count,
    exp.CountIf,
    exp.RowNumber,
    *_allow.DOUBLE_AGGREGATES,
)


def safe_eval(plan: Plan) -> Plan:
    if plan.mode == "records":
        return plan
    _check_arguments(plan.expression)
    try:
        root = _Rewrite(dp=plan.mode == "dp_aggregates").query(plan.expression.copy())
    except RecursionError:
        pass
    else:
        # Every CAST is a TRY_CAST, wherever it was (a position not visited too).
        root = _try_casts(root)
        assert isinstance(root, exp.Query)  # noqa: S101 - narrows the type for mypy
        if root == plan.expression:
            return plan
        return plan.evolve("safe_eval", expression=root)
    # Raised outside the handler, as analyze does: a thousand frames are
    # neither its cause nor its context, so no logged traceback carries them.
    raise refuse(
        "查询嵌套过深", "the query nests too deeply to be evaluated safely", rule="max_depth"
    )


# -- analysis-time refusals ---------------------------------------------------------


def _refuse(zh: str, en: str, rule: str, **details: object) -> Exception:
    return refuse(zh, f"in this output mode {en}", rule=f"data_dependent_{rule}", **details)


def _check_arguments(root: exp.Expr) -> None:
    """Refuse every pattern, format, part, length and frame offset that is not a literal.

    Built from data, each could fail on one value (a pattern ending in an
    escape, an unknown date part, a negative frame offset) or take a time
    that depends on it; as literals they fail, if at all, when the query is
    bound, whatever the data.
    """
    for node in root.walk():
        if not isinstance(node, _ARGUMENTED):
            continue
        if isinstance(node, exp.Like | exp.ILike) and not _string(node.expression):
            raise _refuse(
                "LIKE 的模式必须是字符串常量", "a LIKE pattern must be a string literal", "pattern"
            )
        if isinstance(node, exp.TimeToStr) and not _valid_format(node.args.get("format")):
            raise _refuse(
                "STRFTIME 的格式必须是只含常用说明符的字符串常量",
                "the format of STRFTIME must be a string literal of the usual specifiers "
                "(%Y, %m, %d, %H, %M, %S ...)",
                "format",
            )
        if isinstance(node, exp.Trim) and node.expression and not _string(node.expression):
            raise _refuse(
                "TRIM 的字符必须是字符串常量",
                "the characters of TRIM must be a string literal",
                "pattern",
            )
        part = _date_part(node)
        if part is not None and not (
            isinstance(part, exp.Literal | exp.Var) and part.name.lower() in _allow.DATE_PARTS
        ):
            raise _refuse(
                "日期部分必须是常用的常量（year、month、day ...）",
                "a date part must be a literal of the usual parts (year, month, day ...)",
                "format",
            )
        for name, argument in _counts(node):
            if argument is not None and not _integer(argument):
                raise _refuse(
                    f"{name} 的参数必须是整数常量",
                    f"the positions, lengths and digits of {name} must be integer literals",
                    "argument",
                    function=name,
                )
        if isinstance(node, exp.WindowSpec):
            _check_frame(node)


def _valid_format(node: exp.Expr | None) -> bool:
    """Whether ``node`` is a string literal of known STRFTIME specifiers only.

    >>> [_valid_format(exp.Literal.string(f)) for f in ("%Y-%m", "%-d %%", "%Q", "100%")]
    [True, True, False, False]
    """
    if not _string(node):
        return False
    assert node is not None  # noqa: S101 - _string() is false for None
    parts = node.name.split("%")
    rest = iter(parts[1:])
    for part in rest:
        if part == "":
            # "%%": the next part is literal text.
            if next(rest, None) is None:
                return False
            continue
        specifier = part[:2] if part.startswith("-") else part[:1]
        if specifier not in _allow.STRFTIME_SPECIFIERS:
            return False
    return True


def _date_part(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.DateTrunc | exp.TimestampTrunc | exp.DateDiff):
        unit = node.args.get("unit")
        return unit if isinstance(unit, exp.Expr) else None
    if isinstance(node, exp.Extract):
        part = node.this
        return part if isinstance(part, exp.Expr) else None
    if isinstance(node, exp.Anonymous) and node.name.lower() in {"date_part", "datepart"}:
        return node.expressions[0] if node.expressions else exp.null()
    return None


def _counts(node: exp.Expr) -> Iterable[tuple[str, exp.Expr | None]]:
    if isinstance(node, exp.Substring):
        yield "SUBSTRING", node.args.get("start")
        yield "SUBSTRING", node.args.get("length")
    elif isinstance(node, exp.Left | exp.Right):
        yield node.key.upper(), node.expression
    elif isinstance(node, exp.Round | exp.Floor | exp.Ceil):
        yield node.key.upper(), node.args.get("decimals")


def _check_frame(spec: exp.WindowSpec) -> None:
    # A RANGE offset is subtracted from the ordering value (an overflow on
    # one row); a ROWS offset built from data can be negative on one row.
    for bound in (spec.args.get("start"), spec.args.get("end")):
        if not isinstance(bound, exp.Expr):
            continue  # UNBOUNDED or CURRENT ROW
        if (
            str(spec.args.get("kind", "")).upper() != "ROWS"
            or not (isinstance(bound, exp.Literal) and bound.is_int)
            or not 0 <= int(bound.name) <= _MAX_OFFSET
        ):
            raise _refuse(
                "窗口范围只能是 UNBOUNDED、CURRENT ROW 或 ROWS 的非负整数常量",
                "a window frame bound is UNBOUNDED, CURRENT ROW or a non-negative integer "
                "literal of a ROWS frame",
                "frame",
            )


# -- node classes -------------------------------------------------------------------


def _string(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Literal) and node.is_string


def _number(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string


def _integer(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and node.is_int


def _leaf(node: exp.Expr) -> bool:
    """A bare column or literal: evaluating it cannot raise."""
    return isinstance(node, exp.Column | exp.Literal | exp.Null | exp.Boolean | exp.Star) or (
        _number(node)
    )


def _is_atom(node: exp.Expr) -> bool:
    """An aggregate, window or subquery: what ``TRY`` cannot contain."""
    return isinstance(node, (exp.Window, exp.Subquery, exp.Exists, *_AGGREGATES)) or (
        isinstance(node, exp.In) and node.args.get("query") is not None
    )


def _has_atom(node: exp.Expr) -> bool:
    return any(_is_atom(n) for n in node.walk())


def _boolean(node: exp.Expr) -> bool:
    while isinstance(node, exp.Paren | exp.Try):
        node = node.this
    return isinstance(node, _BOOLEANS)


def _typed(node: exp.Expr, kind: exp.DType) -> bool:
    """Whether ``node`` is a TRY_CAST to ``kind`` (to any text type, for text)."""
    if not isinstance(node, exp.TryCast):
        return False
    if kind == TEXT:
        return node.to.is_type(*exp.DataType.TEXT_TYPES)
    return node.to.is_type(kind)


def _cast(node: exp.Expr, to: exp.DType) -> exp.Expr:
    """``node`` as ``to``, NULL where it cannot be (or where ``node`` itself fails)."""
    if _leaf(node):
        return exp.TryCast(this=node, to=exp.DataType(this=to))
    # A TRY already there stays: it is a GROUP BY key as DuckDB must match it.
    return exp.Try(this=exp.TryCast(this=node, to=exp.DataType(this=to)))


def _try_casts(node: exp.Expr) -> exp.Expr:
    for cast in [c for c in node.find_all(exp.Cast) if type(c) is exp.Cast]:
        safe = exp.TryCast(this=cast.this, to=cast.to)
        if cast is node:
            node = safe
        else:
            cast.replace(safe)
    return node


# -- the rewrite --------------------------------------------------------------------


class _Rewrite:
    """One pass over a copy of the user's tree; methods return the node to put in place."""

    def __init__(self, *, dp: bool) -> None:
        self.dp = dp
        #: Per SELECT being rewritten: its GROUP BY keys as written and as rewritten.
        self.keys: list[list[tuple[str, exp.Expr]]] = []

    # queries

    def query(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Subquery):
            node.set("this", self.query(node.this))
            return node
        self._with(node)
        if isinstance(node, exp.SetOperation):
            # A UNION of many SELECTs is a deep tree: walked without recursion.
            operations, branches = _set_tree(node)
            for branch in branches:
                self.query(branch)
            for operation in operations:
                if operation is not node:
                    self._with(operation)
                self._order(operation, {})
            # The branches are unified by casting to a common type on each row.
            _text_outputs(node)
        elif isinstance(node, exp.Select):
            self.select(node, root=node.parent is None)
        return node

    def _with(self, node: exp.Expr) -> None:
        with_ = node.args.get("with_")
        for cte in with_.expressions if with_ is not None else []:
            cte.set("this", self.query(cte.this))

    def select(self, node: exp.Select, *, root: bool) -> None:
        # The keys of an enclosing SELECT mean nothing in this one.
        self.keys.append([])
        try:
            self._select(node, root=root)
        finally:
            self.keys.pop()

    def _select(self, node: exp.Select, *, root: bool) -> None:
        sources = [node.args.get("from_"), *list(node.args.get("joins") or [])]
        for source in sources:
            if source is not None and isinstance(source.this, exp.Subquery):
                source.set("this", self.query(source.this))
        for join in node.args.get("joins") or []:
            if join.args.get("on") is not None:
                join.set("on", self.condition(join.args["on"]))
        self._clause(node, "where")
        keys: list[tuple[str, exp.Expr]] = []
        group = node.args.get("group")
        if group is not None:
            originals = list(group.expressions)
            group.set("expressions", [self.value(k.copy()) for k in originals])
            keys = [
                (k.sql(dialect="duckdb"), w)
                for k, w in zip(originals, group.expressions, strict=True)
                if not _leaf(k)
            ]
        self.keys[-1] = keys
        order = node.args.get("order")
        named = order is not None and any(
            not isinstance(o.this, exp.Column) for o in order.expressions
        )
        outputs = (
            {p.alias: p.this.copy() for p in node.expressions if isinstance(p, exp.Alias)}
            if named
            else {}
        )
        raw = root and self.dp
        node.set("expressions", [self.output(p, raw=raw) for p in node.expressions])
        distinct = node.args.get("distinct")
        on = distinct.args.get("on") if distinct is not None else None
        if isinstance(on, exp.Tuple):
            on.set("expressions", [self.value(e) for e in on.expressions])
        self._clause(node, "having")
        self._clause(node, "qualify")
        self._order(node, outputs)
        for window in node.args.get("windows") or []:
            self.window_spec(window)

    def output(self, node: exp.Expr, *, raw: bool) -> exp.Expr:
        target = node.this if isinstance(node, exp.Alias) else node
        # A DP release replaces its aggregates with noise over the bare columns.
        value = target if raw and isinstance(target, _AGGREGATES) else self.value(target)
        if isinstance(node, exp.Alias):
            node.set("this", value)
            return node
        return value

    def _clause(self, node: exp.Expr, name: str) -> None:
        clause = node.args.get(name)
        if clause is not None:
            clause.set("this", self.condition(clause.this))

    def _order(self, node: exp.Expr, outputs: dict[str, exp.Expr]) -> None:
        order = node.args.get("order")
        for ordered in order.expressions if order is not None else []:
            key = ordered.this
            if not isinstance(key, exp.Column):
                # An output named inside an expression: evaluate what it names,
                # so an aggregate behind the name is not taken into TRY.
                key = key.transform(
                    lambda n: (
                        exp.paren(outputs[n.name].copy(), copy=False)
                        if isinstance(n, exp.Column) and not n.table and n.name in outputs
                        else n
                    )
                )
            ordered.set("this", self.value(key))

    # expressions

    def condition(self, node: exp.Expr) -> exp.Expr:
        """A WHERE, HAVING, QUALIFY or ON condition, conjunct by conjunct."""
        parts = list(node.flatten()) if isinstance(node, exp.And) else [node]
        done = [self._conjunct(p) for p in parts]
        return done[0] if len(done) == 1 else exp.and_(*done, copy=False)

    def _conjunct(self, node: exp.Expr) -> exp.Expr:
        left, right = node.args.get("this"), node.args.get("expression")
        if (
            isinstance(node, exp.EQ)
            and isinstance(left, exp.Column)
            and isinstance(right, exp.Column)
            and left.table != right.table
        ):
            # Columns of two types are cast on each row; TRY would turn the
            # hash join into a nested loop, so the equality is taken on text.
            return exp.EQ(this=_cast(left, TEXT), expression=_cast(right, TEXT))
        return self.value(node, _Want.BOOLEAN)

    def value(self, node: exp.Expr, want: _Want = _Want.ANY) -> exp.Expr:
        if isinstance(node, exp.Paren):
            inner = self.value(node.this, want)
            return exp.paren(inner, copy=False) if isinstance(inner, exp.Binary) else inner
        if not _has_atom(node):
            return self.scalar(node, want)
        if _is_atom(node):
            return _finish(self.atom(node), self._atom_kind(node), want)
        return self.glue(node, want)

    def scalar(self, node: exp.Expr, want: _Want) -> exp.Expr:
        """An expression without aggregates, windows or subqueries, inside ``TRY``."""
        node = _try_casts(self._keyed(node))
        if want is _Want.NUMBER:
            return node if _number(node) or isinstance(node, exp.Null) else _cast(node, DOUBLE)
        if want is _Want.TEXT:
            return node if _string(node) or isinstance(node, exp.Null) else _cast(node, TEXT)
        if want is _Want.BOOLEAN:
            if isinstance(node, exp.Boolean | exp.Null):
                return node
            if not _boolean(node):
                return _cast(node, BOOLEAN)
        if (
            _leaf(node)
            or isinstance(node, exp.Try)
            or (isinstance(node, exp.TryCast) and _leaf(node.this))
        ):
            return node
        return exp.Try(this=node)

    def _keyed(self, node: exp.Expr) -> exp.Expr:
        """``node`` with each GROUP BY key in it as the key was rewritten, so DuckDB matches it."""
        keys = dict(self.keys[-1]) if self.keys else {}
        if not keys:
            return node
        return node.transform(
            lambda n: (
                keys[n.sql(dialect="duckdb")].copy()
                if not _leaf(n) and n.sql(dialect="duckdb") in keys
                else n
            )
        )

    # aggregates, windows and subqueries

    def atom(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Window):
            self.window(node)
        elif isinstance(node, _AGGREGATES):
            self.aggregate(node)
        elif isinstance(node, exp.Exists):
            node.set("this", self.query(node.this))
        elif isinstance(node, exp.In):
            node.set("this", self.value(node.this, _Want.TEXT))
            query = self.query(node.args["query"])
            _text_outputs(query)
            node.set("query", query)
        elif isinstance(node, exp.Subquery):
            self.query(node)
            # DuckDB raises when a scalar subquery has a second row.
            inner = node.this
            limit = inner.args.get("limit")
            if limit is None or not _integer(limit.expression) or int(limit.expression.name) > 1:
                inner.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        return node

    def aggregate(self, node: exp.Func) -> None:
        argument = node.this
        if isinstance(node, exp.CountIf):
            want = _Want.BOOLEAN
        elif type(node) in _allow.DOUBLE_AGGREGATES:
            want = _Want.NUMBER
        else:
            want = _Want.ANY
        if isinstance(argument, exp.Distinct):
            argument.set("expressions", [self.value(e, want) for e in argument.expressions])
        elif argument is not None and not isinstance(argument, exp.Star):
            node.set("this", self.value(argument, want))

    def window(self, node: exp.Window) -> None:
        if isinstance(node.this, _AGGREGATES):
            self.aggregate(node.this)
        self.window_spec(node)

    def window_spec(self, node: exp.Window) -> None:
        partition = node.args.get("partition_by")
        if partition:
            node.set("partition_by", [self.value(p) for p in partition])
        self._order(node, {})

    def _atom_kind(self, node: exp.Expr) -> _Want:
        function = node.this if isinstance(node, exp.Window) else node
        if type(function) in _allow.DOUBLE_AGGREGATES:
            return _Want.NUMBER
        if isinstance(node, exp.Exists | exp.In):
            return _Want.BOOLEAN
        return _Want.ANY

    # values computed from aggregates, windows and subqueries

    def glue(self, node: exp.Expr, want: _Want) -> exp.Expr:
        """An expression over aggregates, windows or subqueries, evaluated where it cannot raise."""
        kind = _Want.NUMBER
        if isinstance(node, _ARITHMETIC):
            # ``SUM(x) + 1 + 1 + ...`` is as deep as it is long: built up from
            # its leftmost operand without recursion.
            first, links = _chain(node, _ARITHMETIC)
            node = self._operand(first)
            for link in links:
                node = type(link)(this=node, expression=self._operand(link.expression))
        elif isinstance(node, _UNARY):
            node.set("this", self._operand(node.this))
        elif isinstance(node, _COMPARISONS):
            node = type(node)(
                this=self._operand(node.this), expression=self._operand(node.expression)
            )
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.Between):
            for arg in ("this", "low", "high"):
                node.set(arg, self._operand(node.args[arg]))
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.In):
            node.set("this", self._operand(node.this))
            node.set("expressions", [self._operand(e) for e in node.expressions])
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.Is):
            test = _Want.BOOLEAN if isinstance(node.expression, exp.Boolean) else _Want.ANY
            node.set("this", self.value(node.this, test))
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.And | exp.Or):
            first, links = _chain(node, (exp.And, exp.Or))
            node = self.value(first, _Want.BOOLEAN)
            for link in links:
                node = type(link)(this=node, expression=self.value(link.expression, _Want.BOOLEAN))
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.Not):
            node.set("this", self.value(node.this, _Want.BOOLEAN))
            kind = _Want.BOOLEAN
        elif isinstance(node, exp.Case | exp.If):
            node, kind = self._case(node)
        elif isinstance(node, _CHOICES):
            node, kind = self._choice(node)
        elif isinstance(node, exp.Cast):
            node = exp.TryCast(this=self.value(node.this), to=node.to)
            kind = _kind_of_type(node.to)
        else:
            raise _glue_refused(node)
        return _finish(node, kind, want)

    def _operand(self, node: exp.Expr) -> exp.Expr:
        """A numeric operand of arithmetic or a comparison over aggregates."""
        bare = node.unnest()
        if not _has_atom(bare) and (
            _string(bare)
            or isinstance(bare, exp.Interval)
            or (isinstance(bare, exp.Cast) and _kind_of_type(bare.to) is not _Want.NUMBER)
        ):
            # Compared with a DOUBLE it would be NULL, silently: refused instead.
            raise _glue_refused(bare)
        return self.value(node, _Want.NUMBER)

    def _case(self, node: exp.Case | exp.If) -> tuple[exp.Expr, _Want]:
        conditions: list[exp.Expr] = []
        if isinstance(node, exp.If):
            conditions.append(node.this)
        else:
            # CASE x WHEN v: the comparison x = v, made where it cannot raise.
            subject = node.this
            for branch in node.args.get("ifs") or []:
                test = branch.this
                conditions.append(
                    test if subject is None else exp.EQ(this=subject.copy(), expression=test)
                )
        results = _results(node)
        has_default = len(results) > len(conditions)
        mode = self._uniform(results)
        done = [self._branch(r, mode) for r in results]
        ifs = [
            exp.If(this=self.value(c, _Want.BOOLEAN), true=r)
            for c, r in zip(conditions, done, strict=False)
        ]
        new = exp.Case(ifs=ifs, default=done[-1] if has_default else None)
        return new, mode if mode is _Want.NUMBER else _Want.TEXT

    def _choice(self, node: exp.Expr) -> tuple[exp.Expr, _Want]:
        values = _results(node)
        mode = self._uniform(values)
        done = [self._branch(v, mode) for v in values]
        if isinstance(node, exp.Nullif):
            new: exp.Expr = exp.Nullif(this=done[0], expression=done[1])
        else:
            new = type(node)(this=done[0], expressions=done[1:])
        return new, mode if mode is _Want.NUMBER else _Want.TEXT

    def _uniform(self, values: list[exp.Expr]) -> _Want:
        """NUMBER if every value is numeric, ANY if all are string literals, else TEXT.

        The branches of CASE and COALESCE are unified by casting on the rows
        that reach them; numbers unify as DOUBLE and anything else as text.
        """
        kinds = {self._value_kind(v) for v in values}
        if kinds <= {"number", "null"}:
            return _Want.NUMBER
        if kinds <= {"string", "null"}:
            return _Want.ANY
        return _Want.TEXT

    def _value_kind(self, node: exp.Expr) -> str:
        node = node.unnest()
        if isinstance(node, exp.Null):
            return "null"
        if _number(node):
            return "number"
        if _string(node):
            return "string"
        if isinstance(node, (*_ARITHMETIC, *_UNARY)):
            return "number"
        if isinstance(node, exp.Cast):
            return "number" if _kind_of_type(node.to) is _Want.NUMBER else "other"
        if _is_atom(node):
            function = node.this if isinstance(node, exp.Window) else node
            return "number" if isinstance(function, _NUMERIC_ATOMS) else "other"
        if isinstance(node, (exp.Case, exp.If, *_CHOICES)):
            return "number" if self._uniform(_results(node)) is _Want.NUMBER else "other"
        return "other"

    def _branch(self, node: exp.Expr | None, mode: _Want) -> exp.Expr | None:
        if node is None:
            return None
        if mode is _Want.ANY:
            return node  # string literals and NULL
        return self.value(node, mode)


def _chain(node: exp.Expr, kinds: tuple[type[exp.Expr], ...]) -> tuple[exp.Expr, list[exp.Expr]]:
    """The leftmost operand of a left-deep chain of ``kinds``, and the links above it, innermost first."""
    links = []
    while isinstance(node, kinds):
        links.append(node)
        node = node.this
    return node, links[::-1]


def _results(node: exp.Expr) -> list[exp.Expr]:
    """The values a CASE, IF, COALESCE, NULLIF, GREATEST or LEAST can return."""
    if isinstance(node, exp.Case):
        found = [i.args.get("true") for i in node.args.get("ifs") or []]
        found.append(node.args.get("default"))
    elif isinstance(node, exp.If):
        found = [node.args.get("true"), node.args.get("false")]
    elif isinstance(node, exp.Nullif):
        found = [node.this, node.expression]
    else:
        found = [node.this, *node.expressions]
    return [f for f in found if isinstance(f, exp.Expr)]


def _finish(node: exp.Expr, kind: _Want, want: _Want) -> exp.Expr:
    if want is _Want.ANY or want is kind:
        return node
    to = {_Want.NUMBER: DOUBLE, _Want.BOOLEAN: BOOLEAN, _Want.TEXT: TEXT}[want]
    if _typed(node, to):
        return node
    return exp.TryCast(this=node, to=exp.DataType(this=to))


def _kind_of_type(to: exp.DataType) -> _Want:
    if to.is_type(*exp.DataType.NUMERIC_TYPES):
        return _Want.NUMBER
    if to.is_type(exp.DType.BOOLEAN):
        return _Want.BOOLEAN
    if to.is_type(*exp.DataType.TEXT_TYPES):
        return _Want.TEXT
    return _Want.ANY


def _set_tree(node: exp.Expr) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """The set operations of the tree under ``node`` and its other queries, without recursion."""
    operations: list[exp.Expr] = []
    branches: list[exp.Expr] = []
    stack = [node]
    while stack:
        found = stack.pop()
        if isinstance(found, exp.Subquery):
            stack.append(found.this)
        elif isinstance(found, exp.SetOperation):
            operations.append(found)
            stack.extend((found.expression, found.this))
        else:
            branches.append(found)
    return operations, branches


def _text_outputs(query: exp.Expr) -> None:
    """Cast every output of ``query`` (and of its branches) to text."""
    for branch in _set_tree(query)[1]:
        if isinstance(branch, exp.Select):
            _text_select(branch)


def _text_select(query: exp.Select) -> None:
    outputs = []
    for output in query.expressions:
        target = output.this if isinstance(output, exp.Alias) else output
        if not _is_text(target):
            # ``target`` is already rewritten and cannot raise: TRY_CAST is enough.
            target = exp.TryCast(this=target, to=exp.DataType(this=TEXT))
        if isinstance(output, exp.Alias):
            output.set("this", target)
            outputs.append(output)
        else:
            outputs.append(target)
    query.set("expressions", outputs)


def _is_text(node: exp.Expr) -> bool:
    if isinstance(node, exp.Try):
        node = node.this
    return _string(node) or isinstance(node, exp.Null) or _typed(node, TEXT)


def _glue_refused(node: exp.Expr) -> Exception:
    # Named by node kind only: a literal's text is the user's, but never echoed.
    kind = "STRING" if _string(node) else node.key.upper()
    return _refuse(
        f"聚合、窗口或子查询的结果只能参与数值运算、数值比较、CASE、COALESCE 和 IS NULL，"
        f"不能与 {kind} 一起使用",
        "the result of an aggregate, a window function or a subquery may only take part in "
        f"arithmetic, numeric comparisons, CASE, COALESCE and IS NULL, not with {kind}",
        "aggregate_expression",
        node=kind.lower(),
    )
