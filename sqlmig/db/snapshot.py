"""Read the schema from the catalog into a Snapshot, in one read-only statement.

One statement (a UNION ALL of one branch per kind) keeps a snapshot to one round trip: verify
takes three per migration. Each row is one object: (kind, name, its catalog address, [value,
value, ...]), the values in the order of its kind's attribute names (`_NAMES`, sorted, so an
object's attributes arrive in the order a Snapshot keeps them), a NULL value meaning the attribute
is absent; one row per attribute instead made the server and the client handle ten times the
rows, and sending the names with every row doubled what the client parses. Comments come as rows
of their own, matched to objects by address here; ACLs are sorted and compared with their defaults
here: both were subqueries in every branch. Every value is text the server renders (format_type,
pg_get_expr, pg_get_*def), never an OID, so dropping and recreating an object gives an equal
snapshot. Nothing is SET and nothing is written, so it can run inside the transaction verify
inspects.

The statement has no parameters (the excluded tables and `owners` are written into it), so a
server-side prepared statement of it gets one generic plan, kept: Scratch prepares it once and
keeps it across the resets between files (planning was a third of a snapshot's time at 100
tables). Where the rest goes (PostgreSQL 18, 100 tables): the per-object pg_get_*def and
format_type calls, not the transfer, so digests computed on the server would not pay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from types import MappingProxyType
from typing import NamedTuple, cast

from psycopg import sql
from psycopg.pq import TransactionStatus

from ..snapshot import ObjectKey, Snapshot, split_name
from .connect import Conn

_PRIVILEGES, _DEFAULT = "privileges", "privileges default"


def _acl(acl: str, kind: str, owner: str) -> list[tuple[str, str]]:
    """An ACL and, when it is set, the defaults it is compared with (in `_privileges`): sorting and
    comparing in Python keeps two subqueries per kind out of the statement."""
    return [
        (_PRIVILEGES, f"{acl}::text"),
        (_DEFAULT, f"CASE WHEN {acl} IS NOT NULL THEN acldefault('{kind}', {owner})::text END"),
    ]


def _ref(oid: str, catalog: str, sub: str = "0") -> str:
    """An object's catalog address, which its comment names (pg_description): it only matches
    comments to objects inside take() and is never part of a snapshot (OIDs change on recreate)."""
    return f"'pg_catalog.{catalog}'::regclass::oid::text || ':' || {oid}::text || ':' || {sub}::text"


def _owner(role: str) -> tuple[str, str]:
    return ("owner", f"(CASE WHEN @owners@ THEN pg_catalog.pg_get_userbyid({role}) END)::text")


# Members of extensions, found from the extension side: pg_depend's index on the referenced object
# finds them without reading all of pg_depend (which grows with every table), once per snapshot.
_NOT_EXTENSION = "{oid} NOT IN (SELECT objid FROM ext WHERE classid = 'pg_catalog.{catalog}'::regclass)"


class _Branch(NamedTuple):
    """One SELECT of the UNION ALL: the kinds it lists, its kind, name and address expressions,
    its attributes (name, expression), and the rest of the SELECT (FROM ...)."""

    kinds: tuple[str, ...]
    head: str
    attributes: Sequence[tuple[str, str]]
    rest: str


_CTES = f"""
WITH ext AS MATERIALIZED (SELECT classid, objid FROM pg_catalog.pg_depend
  WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'),
skip AS (SELECT * FROM unnest(@skip_schemas@, @skip_tables@) AS s(nsp, rel)),
ns AS (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl, quote_ident(n.nspname) AS q FROM pg_catalog.pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
    AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND {_NOT_EXTENSION.format(oid="n.oid", catalog="pg_namespace")}
),
rel AS (
  SELECT c.*, ns.q || '.' || quote_ident(c.relname) AS q FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND {_NOT_EXTENSION.format(oid="c.oid", catalog="pg_class")}
    AND NOT EXISTS (SELECT 1 FROM skip WHERE skip.nsp = ns.nspname AND skip.rel = c.relname)
    AND NOT (c.relkind = 'S' AND EXISTS (
      SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
      JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
      JOIN skip ON skip.nsp = tn.nspname AND skip.rel = t.relname
      WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
        AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')))
)"""

_BRANCHES = (
    _Branch(
        ("default privileges",),
        """'default privileges', quote_ident(pg_catalog.pg_get_userbyid(d.defaclrole))
  || coalesce(' in schema ' || quote_ident(dn.nspname), '') || ' on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables'
  WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END, NULL""",
        [(_PRIVILEGES, "d.defaclacl::text")],
        "FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace dn ON dn.oid = d.defaclnamespace",
    ),
    _Branch(
        ("schema",),
        f"'schema', ns.q, {_ref('ns.oid', 'pg_namespace')}",
        [*_acl("ns.nspacl", "n", "ns.nspowner"), _owner("ns.nspowner")],
        "FROM ns",
    ),
    _Branch(
        ("extension",),
        f"'extension', quote_ident(e.extname), {_ref('e.oid', 'pg_extension')}",
        [("version", "e.extversion::text"), ("schema", "(quote_ident(en.nspname))::text")],
        "FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace en ON en.oid = e.extnamespace",
    ),
    _Branch(
        ("table", "foreign table", "view", "materialized view"),
        f"""CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'f' THEN 'foreign table'
  WHEN 'v' THEN 'view' ELSE 'materialized view' END, r.q, {_ref("r.oid", "pg_class")}""",
        [
            ("persistence", "(CASE r.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary' END)::text"),
            ("partition key", "(CASE WHEN r.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(r.oid) END)::text"),
            (
                "partition of",
                """(CASE WHEN r.relispartition THEN (SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.relname)
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = r.oid) END)::text""",
            ),
            (
                "partition bound",
                "(CASE WHEN r.relispartition THEN pg_catalog.pg_get_expr(r.relpartbound, r.oid) END)::text",
            ),
            (
                "inherits",
                """(CASE WHEN NOT r.relispartition AND r.relkind IN ('r', 'p', 'f') THEN (
    SELECT string_agg(quote_ident(pn.nspname) || '.' || quote_ident(p.relname), ', ' ORDER BY i.inhseqno)
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = r.oid) END)::text""",
            ),
            (
                "columns",
                """(CASE WHEN r.relkind <> 'S' THEN (SELECT string_agg(quote_ident(c.attname), ', ' ORDER BY c.attnum)
    FROM pg_catalog.pg_attribute c WHERE c.attrelid = r.oid AND c.attnum > 0 AND NOT c.attisdropped) END)::text""",
            ),
            ("definition", "(CASE WHEN r.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(r.oid) END)::text"),
            ("populated", "(CASE WHEN r.relkind = 'm' THEN r.relispopulated::text END)::text"),
            ("options", "((SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(r.reloptions) o))::text"),
            ("rls", "(CASE WHEN r.relrowsecurity THEN 'enabled' END)::text"),
            ("rls forced", "(CASE WHEN r.relforcerowsecurity THEN 'forced' END)::text"),
            (
                "replica identity",
                """(CASE WHEN r.relkind IN ('r', 'p') THEN CASE r.relreplident WHEN 'n' THEN 'nothing'
    WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' END END)::text""",
            ),
            *_acl("r.relacl", "r", "r.relowner"),
            _owner("r.relowner"),
        ],
        "FROM rel r WHERE r.relkind <> 'S'",
    ),
    _Branch(
        ("sequence",),
        f"'sequence', r.q, {_ref('r.oid', 'pg_class')}",
        [
            ("persistence", "(CASE r.relpersistence WHEN 'u' THEN 'unlogged' WHEN 't' THEN 'temporary' END)::text"),
            ("options", "((SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(r.reloptions) o))::text"),
            ("rls", "(CASE WHEN r.relrowsecurity THEN 'enabled' END)::text"),
            ("rls forced", "(CASE WHEN r.relforcerowsecurity THEN 'forced' END)::text"),
            ("type", "(pg_catalog.format_type(s.seqtypid, NULL))::text"),
            ("start", "s.seqstart::text"),
            ("increment", "s.seqincrement::text"),
            ("min", "s.seqmin::text"),
            ("max", "s.seqmax::text"),
            ("cache", "s.seqcache::text"),
            ("cycle", "s.seqcycle::text"),
            (
                "owned by",
                """(CASE WHEN r.relkind = 'S' THEN (
    SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) || '.' || quote_ident(ta.attname)
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_catalog.pg_attribute ta ON ta.attrelid = t.oid AND ta.attnum = d.refobjsubid
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = r.oid
      AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1) END)::text""",
            ),
            *_acl("r.relacl", "r", "r.relowner"),
            _owner("r.relowner"),
        ],
        "FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid",
    ),
    _Branch(
        ("column",),
        f"'column', r.q || '.' || quote_ident(c.attname), {_ref('r.oid', 'pg_class', 'c.attnum')}",
        [
            ("type", "(pg_catalog.format_type(c.atttypid, c.atttypmod))::text"),
            (
                "not null",
                """(CASE WHEN nn.oid IS NOT NULL THEN concat_ws(' ', 'true',
      CASE WHEN NOT nn.convalidated THEN 'not valid' END, CASE WHEN nn.connoinherit THEN 'no inherit' END,
      CASE WHEN nn.conname <> r.relname || '_' || c.attname || '_not_null'
        THEN '(constraint ' || quote_ident(nn.conname) || ')' END)
    WHEN c.attnotnull THEN 'true' END)::text""",
            ),
            ("default", "(CASE WHEN c.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END)::text"),
            (
                "generated",
                """(CASE WHEN c.attgenerated <> '' THEN 'ALWAYS AS (' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)
    || CASE c.attgenerated WHEN 's' THEN ') STORED' ELSE ') VIRTUAL' END END)::text""",
            ),
            ("identity", "(CASE c.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END)::text"),
            (
                "storage",
                """(CASE WHEN c.attstorage <> ct.typstorage THEN CASE c.attstorage WHEN 'p' THEN 'plain'
    WHEN 'e' THEN 'external' WHEN 'm' THEN 'main' ELSE 'extended' END END)::text""",
            ),
            ("compression", "(CASE WHEN c.attcompression <> '' THEN c.attcompression::text END)::text"),
            ("statistics", "(CASE WHEN c.attstattarget >= 0 THEN c.attstattarget::text END)::text"),
            (
                "collation",
                """(CASE WHEN c.attcollation <> ct.typcollation THEN (
    SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_catalog.pg_collation co
    JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = c.attcollation) END)::text""",
            ),
            (_PRIVILEGES, "c.attacl::text"),
        ],
        """FROM rel r JOIN pg_catalog.pg_attribute c ON c.attrelid = r.oid AND c.attnum > 0 AND NOT c.attisdropped
JOIN pg_catalog.pg_type ct ON ct.oid = c.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.attrelid AND ad.adnum = c.attnum
LEFT JOIN pg_catalog.pg_constraint nn ON nn.conrelid = c.attrelid AND nn.contype = 'n' AND nn.conkey[1] = c.attnum
WHERE r.relkind <> 'S'""",
    ),
    _Branch(
        ("constraint",),
        f"'constraint', r.q || '.' || quote_ident(co.conname), {_ref('co.oid', 'pg_constraint')}",
        [
            ("table", "r.q::text"),
            # ends in DEFERRABLE, INITIALLY DEFERRED, NOT VALID as they apply: one change, one attribute
            ("definition", "(pg_catalog.pg_get_constraintdef(co.oid))::text"),
        ],
        "FROM rel r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid AND co.contype <> 'n'",
    ),
    _Branch(
        ("index",),
        f"'index', ns.q || '.' || quote_ident(ic.relname), {_ref('ic.oid', 'pg_class')}",
        [
            ("table", "r.q::text"),
            ("definition", "(pg_catalog.pg_get_indexdef(i.indexrelid))::text"),
            ("valid", "i.indisvalid::text"),
            ("replica identity", "(CASE WHEN i.indisreplident THEN 'true' END)::text"),
        ],
        """FROM rel r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN ns ON ns.oid = ic.relnamespace
-- pg_constraint has no index on conindid: one hashed list, not a scan per index
WHERE i.indexrelid NOT IN (SELECT x.conindid FROM pg_catalog.pg_constraint x WHERE x.contype IN ('p', 'u', 'x'))""",
    ),
    _Branch(
        ("trigger",),
        f"'trigger', r.q || '.' || quote_ident(t.tgname), {_ref('t.oid', 'pg_trigger')}",
        [
            ("definition", "(pg_catalog.pg_get_triggerdef(t.oid))::text"),
            (
                "enabled",
                """(CASE t.tgenabled WHEN 'O' THEN 'origin' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
    ELSE 'always' END)::text""",
            ),
        ],
        "FROM rel r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal",
    ),
    _Branch(
        ("policy",),
        f"'policy', r.q || '.' || quote_ident(p.polname), {_ref('p.oid', 'pg_policy')}",
        [
            (
                "command",
                """(CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE' ELSE 'ALL' END)::text""",
            ),
            ("permissive", "p.polpermissive::text"),
            (
                "roles",
                """((SELECT string_agg(y.n, ', ' ORDER BY y.n) FROM (SELECT CASE WHEN x = 0 THEN 'public'
    ELSE quote_ident(pg_catalog.pg_get_userbyid(x)) END AS n FROM unnest(p.polroles) x) y))::text""",
            ),
            ("using", "(pg_catalog.pg_get_expr(p.polqual, p.polrelid))::text"),
            ("with check", "(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))::text"),
        ],
        "FROM rel r JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid",
    ),
    _Branch(
        ("function", "procedure", "aggregate"),
        # named by argument types alone, as DROP FUNCTION names it (the names are in the definition);
        # a procedure's OUT arguments are part of its identity
        f"""CASE f.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
  ns.q || '.' || quote_ident(f.proname) || '(' || coalesce((SELECT string_agg(pg_catalog.format_type(a.t, NULL), ', '
    ORDER BY a.n) FROM unnest(CASE WHEN f.prokind = 'p' AND f.proallargtypes IS NOT NULL THEN f.proallargtypes
      ELSE f.proargtypes::oid[] END) WITH ORDINALITY a(t, n)), '') || ')', {_ref("f.oid", "pg_proc")}""",
        [
            ("returns", "(pg_catalog.pg_get_function_result(f.oid))::text"),
            ("language", "((SELECT lanname FROM pg_catalog.pg_language WHERE oid = f.prolang))::text"),
            (
                "volatility",
                "(CASE f.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END)::text",
            ),
            ("security definer", "f.prosecdef::text"),
            ("definition", "(CASE WHEN f.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(f.oid) END)::text"),
            *_acl("f.proacl", "f", "f.proowner"),
            _owner("f.proowner"),
        ],
        f"""FROM pg_catalog.pg_proc f JOIN ns ON ns.oid = f.pronamespace
WHERE f.oid >= 16384 AND {_NOT_EXTENSION.format(oid="f.oid", catalog="pg_proc")}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d  -- a range type's constructors are the type's
    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = f.oid AND d.deptype = 'i')""",
    ),
    _Branch(
        ("type", "domain"),
        f"""CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, ns.q || '.' || quote_ident(t.typname),
  {_ref("t.oid", "pg_type")}""",
        [
            (
                "category",
                "(CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range' END)::text",
            ),
            (
                "labels",
                """(CASE WHEN t.typtype = 'e' THEN (
    SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
    FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) END)::text""",
            ),
            (
                "attributes",
                """(CASE WHEN t.typtype = 'c' THEN (SELECT string_agg(quote_ident(c.attname) || ' '
    || pg_catalog.format_type(c.atttypid, c.atttypmod), ', ' ORDER BY c.attnum)
    FROM pg_catalog.pg_attribute c WHERE c.attrelid = t.typrelid AND c.attnum > 0 AND NOT c.attisdropped) END)::text""",
            ),
            (
                "range",
                """(CASE WHEN t.typtype = 'r' THEN (SELECT concat_ws(', ',
    'subtype ' || pg_catalog.format_type(g.rngsubtype, NULL),
    CASE WHEN g.rngcollation <> 0 THEN 'collation ' || (SELECT quote_ident(collname) FROM pg_catalog.pg_collation
      WHERE oid = g.rngcollation) END,
    CASE WHEN g.rngcanonical <> 0 THEN 'canonical ' || g.rngcanonical::regproc::text END,
    CASE WHEN g.rngsubdiff <> 0 THEN 'subtype_diff ' || g.rngsubdiff::regproc::text END)
    FROM pg_catalog.pg_range g WHERE g.rngtypid = t.oid) END)::text""",
            ),
            (
                "base type",
                "(CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END)::text",
            ),
            ("default", "t.typdefault::text"),
            ("not null", "(CASE WHEN t.typnotnull THEN 'true' END)::text"),
            (
                "constraints",
                """(CASE WHEN t.typtype = 'd' THEN (SELECT string_agg(quote_ident(x.conname) || ' '
    || pg_catalog.pg_get_constraintdef(x.oid), ', ' ORDER BY x.conname)
    FROM pg_catalog.pg_constraint x WHERE x.contypid = t.oid AND x.contype <> 'n') END)::text""",
            ),
            (
                "collation",
                """(CASE WHEN t.typtype = 'd' AND t.typcollation <> (SELECT b.typcollation FROM pg_catalog.pg_type b
    WHERE b.oid = t.typbasetype) THEN (SELECT quote_ident(collname) FROM pg_catalog.pg_collation
      WHERE oid = t.typcollation) END)::text""",
            ),
            *_acl("t.typacl", "T", "t.typowner"),
            _owner("t.typowner"),
        ],
        f"""FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace
WHERE t.oid >= 16384 AND t.typtype IN ('e', 'c', 'r', 'd') AND {_NOT_EXTENSION.format(oid="t.oid", catalog="pg_type")}
  AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = t.typrelid) = 'c')""",
    ),
)

# Kinds most schemas never have: each is one more branch of the statement, so that a down that
# forgets one is caught, and `dump` and `drift` see them. Their definitions come from the server
# where it has a function for it; otherwise the catalog row as JSON, without what is an OID or a
# name already in the key (version-proof: a column a later server adds is one more key).
_RARE_BRANCHES = (
    _Branch(
        ("rule",),
        f"'rule', r.q || '.' || quote_ident(w.rulename), {_ref('w.oid', 'pg_rewrite')}",
        [("definition", "pg_catalog.pg_get_ruledef(w.oid)::text"), ("enabled", "w.ev_enabled::text")],
        "FROM pg_catalog.pg_rewrite w JOIN rel r ON r.oid = w.ev_class WHERE w.rulename <> '_RETURN'",
    ),
    _Branch(
        ("statistics",),
        f"'statistics', ns.q || '.' || quote_ident(x.stxname), {_ref('x.oid', 'pg_statistic_ext')}",
        [("definition", "pg_catalog.pg_get_statisticsobjdef(x.oid)::text"), _owner("x.stxowner")],
        f"""FROM pg_catalog.pg_statistic_ext x JOIN ns ON ns.oid = x.stxnamespace
WHERE {_NOT_EXTENSION.format(oid="x.oid", catalog="pg_statistic_ext")}""",
    ),
    _Branch(
        ("collation",),
        f"'collation', ns.q || '.' || quote_ident(c.collname), {_ref('c.oid', 'pg_collation')}",
        [
            ("definition", "(to_jsonb(c) - 'oid' - 'collname' - 'collnamespace' - 'collowner')::text"),
            _owner("c.collowner"),
        ],
        f"""FROM pg_catalog.pg_collation c JOIN ns ON ns.oid = c.collnamespace
WHERE c.oid >= 16384 AND {_NOT_EXTENSION.format(oid="c.oid", catalog="pg_collation")}""",
    ),
    _Branch(
        ("event trigger",),
        f"'event trigger', quote_ident(e.evtname), {_ref('e.oid', 'pg_event_trigger')}",
        [
            ("event", "e.evtevent::text"),
            ("function", "e.evtfoid::regprocedure::text"),
            ("tags", "e.evttags::text"),
            ("enabled", "e.evtenabled::text"),
            _owner("e.evtowner"),
        ],
        f"FROM pg_catalog.pg_event_trigger e WHERE {_NOT_EXTENSION.format(oid='e.oid', catalog='pg_event_trigger')}",
    ),
    _Branch(
        ("cast",),
        f"""'cast', '(' || pg_catalog.format_type(k.castsource, NULL) || ' AS '
  || pg_catalog.format_type(k.casttarget, NULL) || ')', {_ref("k.oid", "pg_cast")}""",
        [
            ("function", "(CASE WHEN k.castfunc <> 0 THEN k.castfunc::regprocedure::text END)"),
            ("context", "k.castcontext::text"),
            ("method", "k.castmethod::text"),
        ],
        f"FROM pg_catalog.pg_cast k WHERE k.oid >= 16384 AND {_NOT_EXTENSION.format(oid='k.oid', catalog='pg_cast')}",
    ),
    _Branch(
        ("publication",),
        f"'publication', quote_ident(p.pubname), {_ref('p.oid', 'pg_publication')}",
        [
            ("definition", "(to_jsonb(p) - 'oid' - 'pubname' - 'pubowner')::text"),
            (
                "tables",
                """(SELECT string_agg(quote_ident(t.schemaname) || '.' || quote_ident(t.tablename), ', '
    ORDER BY t.schemaname, t.tablename) FROM pg_catalog.pg_publication_tables t WHERE t.pubname = p.pubname)::text""",
            ),
            _owner("p.pubowner"),
        ],
        "FROM pg_catalog.pg_publication p",
    ),
    _Branch(
        ("foreign server",),
        f"'foreign server', quote_ident(f.srvname), {_ref('f.oid', 'pg_foreign_server')}",
        [
            (
                "wrapper",
                "(SELECT quote_ident(w.fdwname) FROM pg_catalog.pg_foreign_data_wrapper w WHERE w.oid = f.srvfdw)",
            ),
            ("type", "f.srvtype::text"),
            ("version", "f.srvversion::text"),
            ("options", "f.srvoptions::text"),
            *_acl("f.srvacl", "S", "f.srvowner"),
            _owner("f.srvowner"),
        ],
        f"FROM pg_catalog.pg_foreign_server f WHERE {_NOT_EXTENSION.format(oid='f.oid', catalog='pg_foreign_server')}",
    ),
)
_ALL_BRANCHES: tuple[_Branch, ...] = (*_BRANCHES, *_RARE_BRANCHES)

# Comments of objects created after initdb (OIDs from 16384 on) and of schemas and extensions
# (public's, plpgsql's are older), given to their objects by address in `snapshot_from`.
_COMMENTS = """SELECT NULL, d.classoid::text || ':' || d.objoid::text || ':' || d.objsubid::text, NULL,
  ARRAY[d.description] FROM pg_catalog.pg_description d WHERE d.objoid >= 16384
  OR d.classoid IN ('pg_catalog.pg_namespace'::regclass, 'pg_catalog.pg_extension'::regclass)"""


def _select(branch: _Branch) -> str:
    values = ",\n  ".join(expression for _, expression in sorted(branch.attributes))
    return f"SELECT {branch.head}, ARRAY[\n  {values}]::text[]\n{branch.rest}"


# Each kind's attribute names, in the order of the values its rows bring (sorted).
_NAMES = {kind: tuple(sorted(name for name, _ in b.attributes)) for b in _ALL_BRANCHES for kind in b.kinds}

_TEMPLATE = _CTES + "\n" + "\nUNION ALL\n".join([*map(_select, _ALL_BRANCHES), _COMMENTS])


def statement(conn: Conn, *, exclude: Sequence[tuple[str, str]] = (), owners: bool = False) -> str:
    """The snapshot statement, without parameters (what take() runs; Scratch prepares it)."""

    def names(values: Iterable[str]) -> str:
        return "ARRAY[" + ", ".join(sql.Literal(v).as_string(conn) for v in values) + "]::text[]"

    return (
        _TEMPLATE.replace("@skip_schemas@", names(schema for schema, _ in exclude))
        .replace("@skip_tables@", names(table for _, table in exclude))
        .replace("@owners@", "true" if owners else "false")
    )


def take(conn: Conn, *, exclude: Sequence[tuple[str, str]] = (), owners: bool = False) -> Snapshot:
    """The schema of conn's database as a Snapshot.

    exclude: (schema, table) pairs left out with their columns, constraints, indexes, triggers and
    owned sequences (sqlmig's own history table). Objects of extensions are left to the extension's
    (name, version, schema). owners: include each object's owner (left out by default: a scratch
    database verify builds is owned by whoever runs it).
    """
    with pinned_search_path(conn):
        rows = conn.execute(statement(conn, exclude=exclude, owners=owners)).fetchall()
    return from_rows(rows, exclude)


def from_rows(rows: Iterable[Sequence[object]], exclude: Sequence[tuple[str, str]] = ()) -> Snapshot:
    """The Snapshot of the rows `statement(exclude=exclude)` returned."""
    return _without_emptied_schemas(_snapshot_from(rows), exclude)


def _without_emptied_schemas(snapshot: Snapshot, exclude: Sequence[tuple[str, str]]) -> Snapshot:
    """Leave out a schema that held nothing but excluded tables (history_schema = "meta": sqlmig
    made it for its history, the migrations did not): it is not part of the schema they build."""
    schemas = {schema for schema, _ in exclude if schema != "public"}
    if not schemas:
        return snapshot
    used = {split_name(key.name)[0] for key in snapshot.objects if key.kind != "schema"}
    gone = [key for key in snapshot.objects if key.kind == "schema" and key.name.strip('"') in schemas - used]
    if not gone:
        return snapshot
    return Snapshot(MappingProxyType({k: v for k, v in snapshot.objects.items() if k not in gone}))


@contextlib.contextmanager
def pinned_search_path(conn: Conn) -> Iterator[None]:
    """search_path = pg_catalog while the snapshot is read, then as it was.

    format_type, pg_get_expr and pg_get_*def leave out the schema of what the search_path finds, so
    their text depends on it: a database whose search_path was set (ALTER DATABASE ... SET) would
    differ from a scratch database with the same schema. Inside a transaction the value is set for
    the transaction only (set_config's is_local) and put back, so the files that follow never see it.
    """
    local = conn.info.transaction_status != TransactionStatus.IDLE
    row = conn.execute(
        "SELECT pg_catalog.current_setting('search_path'), pg_catalog.set_config('search_path', 'pg_catalog', %s)",
        (local,),
    ).fetchone()
    try:
        yield
    finally:
        if row is not None and conn.info.transaction_status in (TransactionStatus.IDLE, TransactionStatus.INTRANS):
            conn.execute("SELECT pg_catalog.set_config('search_path', %s, %s)", (row[0], local))


def _snapshot_from(rows: Iterable[Sequence[object]]) -> Snapshot:
    """The Snapshot of the rows of `statement` (what snapshot_of would give for them: objects and
    attributes sorted, read-only, built without sorting what the statement sent in order)."""
    objects: dict[ObjectKey, dict[str, str]] = {}
    addresses: dict[object, dict[str, str]] = {}
    comments: list[tuple[object, str]] = []
    names_of = _NAMES
    for kind, name, ref, values in rows:
        if kind is None:  # a comment, named by the address of its object
            comments.append((name, cast("list[str]", values)[0]))
            continue
        attributes = {
            a: v
            for a, v in zip(names_of[cast(str, kind)], cast("list[str | None]", values), strict=True)
            if v is not None
        }
        if _DEFAULT in attributes or _PRIVILEGES in attributes:
            _privileges(attributes)
        objects[ObjectKey(cast(str, kind), cast(str, name))] = attributes
        if ref is not None:
            addresses[ref] = attributes
    for ref, text in comments:
        found = addresses.get(ref)
        if found is not None:  # comments on objects a snapshot does not list are left out
            found["comment"] = text
            ordered = dict(sorted(found.items()))
            found.clear()
            found.update(ordered)
    return Snapshot(MappingProxyType({key: MappingProxyType(objects[key]) for key in sorted(objects)}))


def _privileges(attributes: dict[str, str]) -> None:
    """The ACL as its items sorted, or none when it grants exactly the defaults: a GRANT and its
    REVOKE leave an explicit copy of the defaults behind (in whatever order), which must compare
    equal to never having granted anything. In place, keeping the attributes' sorted order."""
    default = attributes.pop(_DEFAULT, None)
    acl = attributes.get(_PRIVILEGES)
    if acl is not None:
        items = sorted(acl_items(acl))
        if items and (default is None or items != sorted(acl_items(default))):
            attributes[_PRIVILEGES] = " ".join(items)  # replaced where it is: the order stays sorted
        else:
            del attributes[_PRIVILEGES]


def acl_items(text: str) -> list[str]:
    """The items of an aclitem[] in its text form: {=r/postgres,"\\"a b\\"=r/postgres"}."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    body = text[1:-1]
    i = 0
    while i < len(body):
        ch = body[i]
        if quoted and ch == "\\":
            current.append(body[i + 1 : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    if body:
        items.append("".join(current))
    return items
