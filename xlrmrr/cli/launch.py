"""`xlrmrr create` as the `xl create` wrapper: after a clean plan, run xl with its own options and
operands (cli/_run_xl.py), rdm_forcecheck translated into the release's real settings as
KEY=VALUE items; a plan that is not clean does not run xl, and says why."""

from __future__ import annotations


def forcecheck_launch(args, result, raw, items, host, version, domain, xen_domain):
    """With rdm_forcecheck, the plan as `xlrmrr create` will launch it, for the dry run and the
    launch alike: the settings it hands xl (Plan.launch says them) or, where none reach the
    planned reservation, its refusal to run xl, which is then the verdict and exit status
    (blocked, 1), so that the dry run's first line says what the launch will do. A plan that
    is not clean is not launched anyway (its verdict says so)."""
    from dataclasses import replace

    from xlrmrr.causes import Cause
    from xlrmrr.common import EXIT_DEGRADED
    from xlrmrr.driver import EXIT_FOR, VERDICT_BLOCKED, VERDICT_DEGRADED

    key = f"rdm_forcecheck = {domain.rdm_forcecheck}"
    plain = (f". Plain `xl create`, which ignores the key, would give: {result.xen_verdict}"
             if result.xen_verdict is not None else "")
    if result.libxl is None or not _clean(result.verdict, args.allow_degraded):
        return replace(result, launch=f"launch: {key}: `xlrmrr create` does not run xl (the "
                                      f"plan is {result.verdict}){plain}")
    args.accepted_verdict = None
    extra, said, refusal = _translate(args, result, raw, items, host, version, domain, xen_domain)
    args.forcecheck_launch = (extra, said, refusal)
    if refusal is None and args.accepted_verdict not in (None, result.verdict):
        # --accept-difference: Xen gets the nearest settings, whose plan is what happens
        return replace(result, verdict=args.accepted_verdict,
                       exit_status=EXIT_FOR[args.accepted_verdict],
                       causes=(Cause(f"with the nearest settings xlrmrr create hands xl "
                                     f"(--accept-difference): {said}"),),
                       launch=f"launch: {said}{plain}")
    if refusal is None:
        return replace(result, launch=f"launch: {said}{plain}")
    why, status = refusal
    verdict = VERDICT_DEGRADED if status == EXIT_DEGRADED else VERDICT_BLOCKED
    return replace(result, verdict=verdict, exit_status=status,
                   causes=(Cause(f"`xlrmrr create` would not run xl: {why}"),),
                   launch=f"launch: {key}: `xlrmrr create` does not run xl{plain}")


def _host_files(args) -> list[str]:
    """The host-data files given instead of this machine's /sys, as options."""
    return [f"--{name.replace('_', '-')} {getattr(args, name)}"
            for name in ("snapshot", "dmar", "acpidump", "xen_log", "host_json")
            if getattr(args, name, None)]


def note(message: str) -> None:
    import sys

    from xlrmrr.report import escape

    print(escape(f"xlrmrr create: {message}"), file=sys.stderr)


def _clean(verdict: str, allow_degraded: bool) -> bool:
    from xlrmrr.driver import VERDICT_BLOCKED, VERDICT_OK

    return verdict == VERDICT_OK or (allow_degraded and verdict != VERDICT_BLOCKED)


def _refuse(args, result, out: str, why: str, status: int) -> int:
    import sys

    sys.stdout.write(out)
    note(f"not running `xl create {args.config}`: {why}")
    return status


def launch(args, result, out, raw, items, host, version, domain, xen_domain) -> int:
    """Run xl create when the plan is clean and xl will build the guest planned. The first
    stderr line says when the plan came from host files rather than this machine's /sys."""
    from xlrmrr.cli._run_xl import run_xl
    from xlrmrr.driver import VERDICT_BLOCKED
    from xlrmrr.integration.xl import XL_FLAGS, flag_dest, xl_create_argv

    files = _host_files(args)
    if files:
        note(f"planning from files ({', '.join(files)}), not from this machine's /sys: xl "
              f"will create the guest here whether or not they describe this host")
    if args.found_note:
        note(args.found_note)

    refused = args.forcecheck_launch is not None and args.forcecheck_launch[2] is not None
    if not _clean(result.verdict, args.allow_degraded) and not refused:
        hint = "; --allow-degraded runs it anyway" if result.verdict != VERDICT_BLOCKED else ""
        return _refuse(args, result, out, f"the plan is {result.verdict} (see above{hint})",
                       result.exit_status)
    extra: tuple = ()
    if args.forcecheck_launch is not None:       # rdm_forcecheck: decided with the plan
        extra, said, refusal = args.forcecheck_launch
        if refusal is not None:
            return _refuse(args, result, out, *refusal)
        note(said)
    flags = [short for short, _long, _help in XL_FLAGS if getattr(args, flag_dest(short), False)]
    argv = xl_create_argv(args.config, flags, [*items, *extra])
    return run_xl("xlrmrr create", argv, f"plan {result.verdict} (Xen {result.xen_version})",
                  quiet=args.xl_q)


def _translate(args, result, raw, items, host, version, domain, xen_domain):
    """(KEY=VALUE items to add, what is handed to xl in words, None) when xl, given them,
    builds the guest planned under rdm_forcecheck; else ((), "", (why, exit status)). Each
    candidate is planned again, under every reading of a policy xl leaves undefined: nothing
    added when xl's own reading already gives the planned reservation, else the release's
    spelling (integration.xl.translate_forcecheck). No output: the launch says it on stderr,
    the dry run in its report (the two say the same)."""
    from dataclasses import replace

    from xlrmrr.cli.guest import NEUTRAL_FORCECHECK, XL_EXITS, XL_UNPARSABLE
    from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL
    from xlrmrr.driver import RANK, design_domain, plan_readings
    from xlrmrr.integration.xl import config_data, differences, reservation, translate_forcecheck
    from xlrmrr.xlcfg import load_domain

    options = replace(result.options, remediate=False, compare_versions=False, xen_domain=None)
    want = reservation(result)

    def planned(extra):
        data = config_data(raw, [*items, *extra]) + NEUTRAL_FORCECHECK
        d, findings, _p = load_domain(data, args.config, version)
        if any(f.code in XL_EXITS + XL_UNPARSABLE for f in findings):
            return None, ["xl refuses the translated config"]
        readings = plan_readings(d, host, version, options)
        worst = max((p for _pol, p in readings), key=lambda p: RANK[p.verdict])
        diffs = []
        for pol, p in readings:
            for d_ in differences(want, reservation(p)):
                diffs.append(f"{d_} (xl's undefined global policy read as {pol})" if pol else d_)
        return worst, diffs

    key = f"rdm_forcecheck = {domain.rdm_forcecheck}"
    worst, diffs = planned(())
    if not diffs:
        return (), (f"{key} is unknown to xl, which ignores it; its own reading of the config "
                    f"already gives the planned reservation: nothing added"), None
    tr = translate_forcecheck(domain.rdm_forcecheck, design_domain(domain, xen_domain), xen_domain,
                              version)
    worst, diffs = planned(tr.items)
    spelled = "; ".join(tr.spelled)
    if not diffs:
        return tr.items, (f"{tr.why}; handing xl these settings after the file's (planned again: "
                          f"the same reservation): {spelled}"), None
    what = "; ".join(dict.fromkeys(diffs))
    if not args.accept_difference:
        return (), "", (f"{key} cannot be spelled for Xen {version}'s xl ({tr.why}): the nearest "
                        f"settings, {spelled}, give {what}. Write the settings you want in the "
                        f"file, or --accept-difference runs xl with these", EXIT_FAIL)
    if worst is None or not _clean(worst.verdict, args.allow_degraded):
        verdict = worst.verdict if worst is not None else "refused by xl"
        return (), "", (f"{key}: with the nearest settings for Xen {version}'s xl ({spelled}) "
                        f"the plan is {verdict}",
                        EXIT_DEGRADED if verdict == "degraded" else EXIT_FAIL)
    args.accepted_verdict = worst.verdict      # what Xen gets instead of the plan's verdict
    return tr.items, f"{tr.why}; --accept-difference: handing xl {spelled}, which give {what}", None
