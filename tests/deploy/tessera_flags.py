"""What the Tessera binaries accept, read from their own --help output, and
where the image keeps them (the Dockerfile's COPY lines).

Shared by compose_test.py and k8s_test.py: a deployment file may only use
flags (and TESSERA_* environment variables, the environment form of a flag)
that the real binaries list in --help. Nothing here names a flag itself.
"""

import os
import re
import subprocess

# "  --listen (address to serve on ...); default: ..." (absl) or
# "  --out DIR   where to write ..." (the tessera CLI's own usage text).
_FLAG_LINE = re.compile(r"^\s*--([A-Za-z0-9][A-Za-z0-9_-]*)")
_ENV_PREFIX = "TESSERA_"

_SECTION = re.compile(r"^\s*Flags from (.*):\s*$")

_cache = {}
_noted = set()


def normalize(name):
    """--worker-memory-mb and --worker_memory_mb are the same flag."""
    return name.lstrip("-").replace("-", "_").lower()


def help_text(binary, subcommand=(), option="--help"):
    key = (binary, tuple(subcommand), option)
    if key not in _cache:
        result = subprocess.run([binary, *subcommand, option], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30, check=False)
        _cache[key] = result.stdout.decode(errors="replace")
    return _cache[key]


def _flags_in(text, skip_section=None):
    flags, skipping = set(), False
    for line in text.splitlines():
        section = _SECTION.match(line)
        if section:
            skipping = bool(skip_section and skip_section(section.group(1)))
            continue
        match = _FLAG_LINE.match(line)
        if match and not skipping:
            flags.add(normalize(match.group(1)))
    return flags


def accepted_flags(binary, subcommand=()):
    """The set of normalized flag names `binary [subcommand] --help` lists.

    absl's --help lists only flags defined in a file named after the program
    ("No flags matched" for the servers, whose flags live in worker_main.cc,
    tls_flags.cc, ...); then --helpfull is read instead, without the
    sections of absl's own flags (--flagfile, --fromenv, ...)."""
    flags = _flags_in(help_text(binary, subcommand))
    if not flags and not subcommand:
        flags = _flags_in(help_text(binary, subcommand, "--helpfull"), lambda path: "absl/" in path)
        if flags and binary not in _noted:
            _noted.add(binary)
            print("note: %s --help lists no flags; read them from --helpfull" % os.path.basename(binary))
    return flags


def parse_args(args):
    """[(name, value or None)] for every --flag in args.

    --name=value carries its value; --name followed by a word that is not a
    flag takes that word; a lone --name is a boolean (absl also accepts
    --noname, which callers check against the flag without the prefix).
    """
    parsed = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and len(arg) > 2:
            if "=" in arg:
                name, value = arg[2:].split("=", 1)
                parsed.append((normalize(name), value))
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                parsed.append((normalize(arg), args[i + 1]))
                i += 1
            else:
                parsed.append((normalize(arg), None))
        i += 1
    return parsed


def env_flag(variable):
    """TESSERA_WORKER_MEMORY_MB -> worker_memory_mb; None for other variables."""
    if not variable.startswith(_ENV_PREFIX):
        return None
    return normalize(variable[len(_ENV_PREFIX):])


def flag_value(args, env, name):
    """The value a server would use for flag `name`: the command line wins
    over its TESSERA_* variable. None when neither sets it."""
    name = normalize(name)
    value = None
    for variable, env_value in (env or {}).items():
        if env_flag(variable) == name:
            value = env_value
    for flag, arg_value in parse_args(args):
        if flag == name:
            value = arg_value
    return value


def unknown_flags(binary, args, env=None, subcommand=()):
    """Flags in args and TESSERA_* variables in env that `binary --help`
    does not list, as human-readable strings (empty when all are known)."""
    known = accepted_flags(binary, subcommand)
    problems = []
    for name, _ in parse_args(args):
        if name in known or (name.startswith("no") and name[2:] in known):
            continue
        problems.append("--%s" % name.replace("_", "-"))
    for variable in sorted(env or {}):
        name = env_flag(variable)
        if name is not None and name not in known:
            problems.append("%s (--%s)" % (variable, name.replace("_", "-")))
    label = " ".join([os.path.basename(binary), *subcommand])
    variables = [v for v in env or {} if env_flag(v) is not None]
    documented = "TESSERA_" in help_text(binary, subcommand) + help_text(binary, subcommand, "--helpfull")
    if variables and not documented and (binary, "env") not in _noted:
        _noted.add((binary, "env"))
        print("note: %s --help names no TESSERA_* variable; %s checked by flag name only" % (
            label, ", ".join(sorted(variables))))
    return ["%s does not accept %s" % (label, p) for p in problems]


def port_of(address):
    """The port of HOST:PORT, dns:///NAME:PORT or [v6]:PORT, as an int."""
    if address is None:
        return None
    match = re.search(r":(\d+)$", address)
    return int(match.group(1)) if match else None


def image_files(dockerfile, build_dir, source_dir):
    """{name on the image's PATH: file here}, from the Dockerfile's COPY lines
    into /usr/local/bin: --from=build copies come from the build tree's bin/,
    the others from the source tree."""
    text = open(dockerfile).read().replace("\\\n", " ")
    files = {}
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY":
            continue
        from_stage = any(w.startswith("--from=") for w in words)
        args = [w for w in words[1:] if not w.startswith("--")]
        if len(args) < 2 or not args[-1].startswith("/usr/local/bin"):
            continue
        for src in args[:-1]:
            name = os.path.basename(src.rstrip("/"))
            if from_stage:
                files[name] = os.path.join(build_dir, "bin", name)
            else:
                files[name] = os.path.join(source_dir, src)
    return files


def map_paths(text, mapping):
    """text with each container path of mapping {container path: host path}
    replaced by its host path, where it stands as a whole path (or its
    prefix), in one pass: a replacement is never rewritten again."""
    if not mapping:
        return text
    paths = sorted((p.rstrip("/") for p in mapping), key=len, reverse=True)
    pattern = r"(?<![\w./-])(%s)(?=/|$|[,:;\s])" % "|".join(re.escape(p) for p in paths)
    hosts = {p.rstrip("/"): h for p, h in mapping.items()}
    return re.sub(pattern, lambda m: hosts[m.group(1)], text)
