#!/usr/bin/env python3
"""deploy/compose/docker-compose.yml, run as real processes.

No Docker engine runs on the build machines, so this test plays Compose's
part itself, from the Compose file alone:

  * every service instance (`deploy.replicas` of them) gets its own network
    namespace with its own address on a private bridge, and the Compose
    service names resolve the way Compose's DNS answers them: a hosts file
    (/etc/netns/NS/hosts, which `ip netns exec` mounts over /etc/hosts) in
    which `worker` names every replica;
  * the image is stood in for by the files the Dockerfile copies into it:
    its COPY lines map /usr/local/bin/tessera* to build/bin and
    deploy/docker, put first on PATH;
  * several files (--compose-file A --compose-file B, as `docker compose -f A
    -f B`) are merged the way Compose merges them (see merge());
  * volumes are one thing that legitimately differs: a named volume is a
    temporary directory, a bind mount the host directory it names, and a
    container path in a command or an environment value becomes that
    directory; secrets the other: a file secret (mounted at
    /run/secrets/NAME) is a file the operator makes, so the test makes a
    stand-in in its temporary directory holding one random token;
  * services start in depends_on order: service_completed_successfully waits
    for exit 0, service_healthy runs the service's own healthcheck command in
    its namespace until it passes;
  * a published port is forwarded from localhost in a "host" namespace.

Then it checks what Compose users rely on: every flag and TESSERA_* variable
is one the binaries' --help lists; the first file alone keeps the
coordinator's clients on mutual TLS (bearer tokens are opt-in); /healthz and /readyz answer 200 on each
server's ops port; `tessera infer` through the coordinator, by service name
and through the published port, gives the answers `tessera run` gives locally
(`tessera compare`) -- when the merged files turn bearer tokens on
(--client-auth=token, docker-compose.tokens.yml), with the CA and the token
file only, and a call with the client certificate but no token must be
refused with UNAUTHENTICATED; SIGTERM stops every server with exit 0 within its
stop_grace_period.

Usage: compose_test.py --build-dir BUILD --source-dir REPO [--compose-file F ...]
                       [--expect-client-auth mtls|token]
Needs root and iproute2; exits 77 (ctest: skipped) with the reason otherwise.
Everything it creates (namespaces, links, /etc/netns entries, processes,
temporary files) is removed on the way out, and every wait is bounded.
"""

import argparse
import atexit
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tessera_flags  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover
    print("compose_test: SKIP: python3-yaml is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

SKIP = 77
PREFIX = "tsc"  # every namespace, link and /etc/netns entry starts with tsc<pid>
DEFAULT_STOP_GRACE = 10.0
HEALTHY_WITHIN = 45.0  # seconds a service may take to pass its healthcheck
COMPLETE_WITHIN = 30.0  # seconds a one-shot service may take
INFER_TIMEOUT = 60.0
# The bundled example: inputs for the demo models, named as in scripts/demo.sh.
DEMO_INPUT = ("input", "examples/inputs/demo_input.npy")


def log(message):
    print("compose_test: " + message, flush=True)


class Failure(Exception):
    pass


def run(argv, timeout=30, check=True, **kwargs):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                            check=False, **kwargs)
    if check and result.returncode != 0:
        raise Failure("%s exited %d:\n%s" % (" ".join(argv), result.returncode,
                                             result.stdout.decode(errors="replace")[-3000:]))
    return result


# ---------------------------------------------------------------- the file --

def as_list(command):
    if command is None:
        return []
    if isinstance(command, str):
        import shlex
        return shlex.split(command)
    return [str(c) for c in command]


def as_env(environment):
    if environment is None:
        return {}
    if isinstance(environment, dict):
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}
    env = {}
    for item in environment:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def depends_on(service):
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def start_order(services):
    order, done = [], set()

    def visit(name, path):
        if name in done:
            return
        if name in path:
            raise Failure("depends_on cycle through %s" % name)
        for dep in depends_on(services[name]):
            if dep not in services:
                raise Failure("%s depends on unknown service %s" % (name, dep))
            visit(dep, path + [name])
        done.add(name)
        order.append(name)

    for name in services:
        visit(name, [])
    return order


def duration(text, default):
    """Compose durations: 5s, 1m30s, 500ms."""
    if text is None:
        return default
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text)):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


# Keys whose lists a later file extends instead of replacing (Compose's merge
# rules for the keys these files use); other lists (command, entrypoint,
# healthcheck test) are replaced and mappings merged key by key.
_APPENDED = {"ports", "volumes", "secrets", "expose", "dns", "extra_hosts"}


def merge(base, override, key=None):
    """`docker compose -f base -f override`: the override file merged in."""
    if key == "environment":
        merged = as_env(base)
        merged.update(as_env(override))
        return merged
    if key == "depends_on":
        merged = {name: {"condition": c} for name, c in depends_on({"depends_on": base}).items()}
        for name, condition in depends_on({"depends_on": override}).items():
            merged[name] = {"condition": condition}
        return merged
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = merge(base[k], v, k) if k in base else v
        return merged
    if key in _APPENDED and isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return override


def load_compose(paths):
    """The files merged in order, as one document."""
    doc = {}
    for path in paths:
        with open(path) as f:
            doc = merge(doc, yaml.safe_load(f) or {})
    return doc


def coordinator_client_auth(doc):
    """(service, --client-auth mode) of the service running tessera-coordinator."""
    for name, service in (doc.get("services") or {}).items():
        command = as_list(service.get("command"))
        if command[:1] == ["tessera-coordinator"]:
            mode = tessera_flags.flag_value(command[1:], as_env(service.get("environment")), "client_auth")
            return name, mode or "mtls"
    return None, None


# ----------------------------------------------------------- the network --

class Network:
    """A bridge, one namespace per service instance, hosts files; removes
    all of it (even after a crash of an earlier run: see sweep)."""

    def __init__(self):
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.bridge = self.tag + "b"
        self.subnet = self._free_subnet()
        hosts = self.subnet.hosts()
        self.gateway = next(hosts)
        self._addresses = hosts
        self.namespaces = []  # (ns, address)
        self.created_bridge = False

    @staticmethod
    def _free_subnet():
        used = run(["ip", "-4", "route", "show", "table", "all"]).stdout.decode()
        for third in range(200, 255):
            net = ipaddress.ip_network("10.254.%d.0/24" % third)
            if str(net.network_address)[:-1] not in used:
                return net
        raise Failure("no free 10.254.x.0/24 subnet for the test bridge")

    @staticmethod
    def sweep():
        """Removes namespaces, links and /etc/netns entries left by runs of
        this test whose process is gone (a run killed by a timeout)."""
        def dead(name):
            match = re.match(PREFIX + r"(\d+)", name)
            return match and not os.path.exists("/proc/%s" % match.group(1))

        for line in run(["ip", "netns", "list"], check=False).stdout.decode().splitlines():
            ns = line.split()[0] if line.split() else ""
            if ns.startswith(PREFIX) and dead(ns):
                for pid in run(["ip", "netns", "pids", ns], check=False).stdout.decode().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                run(["ip", "netns", "del", ns], check=False)
        for line in run(["ip", "-o", "link", "show"], check=False).stdout.decode().splitlines():
            parts = line.split(":")
            if len(parts) > 1:
                link = parts[1].strip().split("@")[0]
                if link.startswith(PREFIX) and dead(link):
                    run(["ip", "link", "del", link], check=False)
        if os.path.isdir("/etc/netns"):
            for entry in os.listdir("/etc/netns"):
                if entry.startswith(PREFIX) and dead(entry):
                    shutil.rmtree(os.path.join("/etc/netns", entry), ignore_errors=True)

    def up(self):
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.created_bridge = True
        run(["ip", "addr", "add", "%s/%d" % (self.gateway, self.subnet.prefixlen), "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])

    def add(self, label):
        """A namespace joined to the bridge; returns (ns, address)."""
        index = len(self.namespaces)
        ns = "%s-%s" % (self.tag, label)
        address = next(self._addresses)
        host_end, ns_end = "%sh%d" % (self.tag, index), "%sn%d" % (self.tag, index)
        run(["ip", "netns", "add", ns])
        self.namespaces.append((ns, address))
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end])
        run(["ip", "link", "set", host_end, "master", self.bridge, "up"])
        run(["ip", "link", "set", ns_end, "netns", ns])
        run(["ip", "-n", ns, "link", "set", ns_end, "name", "eth0"])
        run(["ip", "-n", ns, "addr", "add", "%s/%d" % (address, self.subnet.prefixlen), "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns, str(address)

    def write_hosts(self, names):
        """names: [(address, name)]. The same file in every namespace."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += ["%s\t%s" % (address, name) for address, name in names]
        for ns, _ in self.namespaces:
            directory = os.path.join("/etc/netns", ns)
            os.makedirs(directory, exist_ok=True)
            with open(os.path.join(directory, "hosts"), "w") as f:
                f.write("\n".join(lines) + "\n")

    def down(self):
        for ns, _ in self.namespaces:
            for pid in run(["ip", "netns", "pids", ns], check=False).stdout.decode().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(os.path.join("/etc/netns", ns), ignore_errors=True)
        self.namespaces = []
        if self.created_bridge:
            run(["ip", "link", "del", self.bridge], check=False)
            self.created_bridge = False


# ------------------------------------------------------------ processes --

class Instance:
    def __init__(self, service, index, ns, address):
        self.service, self.index, self.ns, self.address = service, index, ns, address
        self.process = None
        self.log_path = None

    @property
    def label(self):
        return "%s-%d" % (self.service, self.index)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return ""


class Cluster:
    def __init__(self, compose_paths, build_dir, source_dir, work):
        # Compose's project directory, against which relative paths resolve:
        # the first file's.
        self.compose_dir = os.path.dirname(os.path.abspath(compose_paths[0]))
        self.doc = load_compose(compose_paths)
        self.services = self.doc["services"]
        self.build_dir, self.source_dir, self.work = build_dir, source_dir, work
        self.network = Network()
        self.instances = {}  # service -> [Instance]
        self.volumes = {}  # service -> [(container path, host path)]
        self.secret_files = {}  # secret name -> stand-in file
        self.path_dir = os.path.join(work, "image-path")
        self.forwarders = []  # published-port processes

    # --- the image and the volumes
    def prepare_image(self):
        os.makedirs(self.path_dir)
        for service in self.services.values():
            dockerfile = self._dockerfile(service)
            if dockerfile:
                for name, target in tessera_flags.image_files(dockerfile, self.build_dir, self.source_dir).items():
                    if not os.path.exists(target):
                        raise Failure("the image's %s would come from %s, which does not exist" % (name, target))
                    link = os.path.join(self.path_dir, name)
                    if not os.path.lexists(link):
                        os.symlink(target, link)
        if not os.listdir(self.path_dir):
            raise Failure("no service builds the image from a Dockerfile that copies into /usr/local/bin")

    def _dockerfile(self, service):
        build = service.get("build")
        if build is None:
            return None
        if isinstance(build, str):
            build = {"context": build}
        context = os.path.normpath(os.path.join(self.compose_dir, build.get("context", ".")))
        return os.path.join(context, build.get("dockerfile", "Dockerfile"))

    def prepare_volumes(self):
        named = {}
        for name in (self.doc.get("volumes") or {}):
            named[name] = os.path.join(self.work, "volumes", name)
            os.makedirs(named[name])
        for service_name, service in self.services.items():
            mounts = []
            for volume in service.get("volumes") or []:
                if isinstance(volume, dict):
                    source, target = volume.get("source"), volume["target"]
                else:
                    parts = str(volume).split(":")
                    source, target = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
                if source in named:
                    host = named[source]
                elif source and (source.startswith(".") or source.startswith("/")):
                    host = os.path.normpath(os.path.join(self.compose_dir, source))
                    if not os.path.exists(host):
                        raise Failure("%s mounts %s, which does not exist" % (service_name, host))
                else:
                    raise Failure("%s: volume %r is neither declared nor a path" % (service_name, volume))
                mounts.append((target.rstrip("/"), host))
            for secret in service.get("secrets") or []:
                source, target = (secret, None) if isinstance(secret, str) else (secret["source"],
                                                                                   secret.get("target"))
                declared = (self.doc.get("secrets") or {}).get(source)
                if not declared or "file" not in declared:
                    raise Failure("%s: secret %r is not declared with a file" % (service_name, source))
                target = target or source
                target = target if target.startswith("/") else "/run/secrets/" + target
                mounts.append((target, self.secret_stand_in(source)))
            # Longest container path first, so /models/x is not read as /models + /x.
            self.volumes[service_name] = sorted(mounts, key=lambda m: -len(m[0]))

    def secret_stand_in(self, name):
        """The operator's secret file, made here: one random token (what
        the files' comments tell the operator to put there), mode 0600."""
        if name not in self.secret_files:
            directory = os.path.join(self.work, "secrets")
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write("# stand-in for the operator's %s\n%s\n" % (name, secrets.token_hex(32)))
            self.secret_files[name] = path
        return self.secret_files[name]

    def map_paths(self, service_name, text):
        return tessera_flags.map_paths(text, dict(self.volumes.get(service_name, [])))

    def command(self, service_name):
        return [self.map_paths(service_name, arg) for arg in as_list(self.services[service_name].get("command"))]

    def environment(self, service_name):
        env = {"PATH": self.path_dir + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.work, "LANG": "C.UTF-8"}
        for key, value in as_env(self.services[service_name].get("environment")).items():
            env[key] = self.map_paths(service_name, value)
        return env

    # --- flags
    def check_flags(self):
        problems = []
        for name in self.services:
            command = as_list(self.services[name].get("command"))
            if not command:
                problems.append("%s has no command" % name)
                continue
            binary = os.path.join(self.path_dir, command[0])
            if not os.path.exists(binary):
                problems.append("%s runs %s, which the image does not hold" % (name, command[0]))
                continue
            args = command[1:]
            subcommand = ()
            if args and not args[0].startswith("-"):  # the CLI: tessera certs ...
                subcommand, args = (args[0],), args[1:]
            env = as_env(self.services[name].get("environment"))
            problems += ["%s: %s" % (name, p) for p in tessera_flags.unknown_flags(binary, args, env, subcommand)]
        return problems

    # --- instances
    def replicas(self, name):
        return int(((self.services[name].get("deploy") or {}).get("replicas")) or 1)

    def create_network(self):
        self.network.up()
        names = []
        for name in self.services:
            self.instances[name] = []
            for index in range(1, self.replicas(name) + 1):
                ns, address = self.network.add("%s%d" % (name[:6], index))
                self.instances[name].append(Instance(name, index, ns, address))
                names.append((address, name))  # Compose DNS: the service name, every replica
                names.append((address, "%s-%s-%d" % (self.doc.get("name", "compose"), name, index)))
        self.host_ns, self.host_address = self.network.add("host")
        self.network.write_hosts(names)

    def start(self, name):
        for instance in self.instances[name]:
            instance.log_path = os.path.join(self.work, "logs", instance.label + ".log")
            os.makedirs(os.path.dirname(instance.log_path), exist_ok=True)
            argv = ["ip", "netns", "exec", instance.ns] + self.command(name)
            log("start %s in %s (%s): %s" % (instance.label, instance.ns, instance.address, " ".join(argv[4:])))
            with open(instance.log_path, "wb") as out:
                instance.process = subprocess.Popen(argv, env=self.environment(name), stdout=out,
                                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                    start_new_session=True)

    def wait_completed(self, name):
        deadline = time.monotonic() + COMPLETE_WITHIN
        for instance in self.instances[name]:
            try:
                code = instance.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise Failure("%s did not complete within %.0f s:\n%s" % (instance.label, COMPLETE_WITHIN,
                                                                          instance.log_tail()))
            if code != 0:
                raise Failure("%s exited %d:\n%s" % (instance.label, code, instance.log_tail()))
        log("%s completed" % name)

    def healthcheck(self, name, instance):
        check = self.services[name].get("healthcheck") or {}
        test = check.get("test")
        if isinstance(test, str):
            argv = ["/bin/sh", "-c", test]
        elif test and test[0] == "CMD":
            argv = [self.map_paths(name, a) for a in test[1:]]
        elif test and test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", self.map_paths(name, test[1])]
        else:
            raise Failure("%s has no healthcheck test, so service_healthy cannot be waited for" % name)
        timeout = duration(check.get("timeout"), 30.0)
        try:
            result = subprocess.run(["ip", "netns", "exec", instance.ns] + argv, env=self.environment(name),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            return False, "timed out"
        return result.returncode == 0, result.stdout.decode(errors="replace").strip()

    def wait_healthy(self, name):
        deadline = time.monotonic() + HEALTHY_WITHIN
        for instance in self.instances[name]:
            last = ""
            while True:
                if instance.process.poll() is not None:
                    raise Failure("%s exited %d before it was healthy:\n%s" % (
                        instance.label, instance.process.returncode, instance.log_tail()))
                healthy, last = self.healthcheck(name, instance)
                if healthy:
                    break
                if time.monotonic() > deadline:
                    raise Failure("%s not healthy within %.0f s (%s):\n%s" % (
                        instance.label, HEALTHY_WITHIN, last, instance.log_tail()))
                time.sleep(0.5)
        log("%s healthy (%d instance%s)" % (name, len(self.instances[name]),
                                             "" if len(self.instances[name]) == 1 else "s"))

    def up(self):
        for name in start_order(self.services):
            for dep, condition in depends_on(self.services[name]).items():
                if condition == "service_completed_successfully":
                    self.wait_completed(dep)
                elif condition == "service_healthy":
                    self.wait_healthy(dep)
            self.start(name)

    def one_shots(self):
        """Services others wait for to complete (service_completed_successfully)."""
        return {dep for service in self.services.values()
                for dep, condition in depends_on(service).items() if condition == "service_completed_successfully"}

    def servers(self):
        """Services that keep running (not one-shots), with their ops port."""
        for name, service in self.services.items():
            if name in self.one_shots():
                continue
            command = as_list(service.get("command"))
            ops = tessera_flags.flag_value(command[1:], as_env(service.get("environment")), "ops_listen")
            yield name, tessera_flags.port_of(ops)

    # --- published ports
    def publish(self):
        """Each "HOST:CONTAINER" port: a forwarder on localhost:HOST in the
        host namespace to the service's name:CONTAINER, as docker-proxy does."""
        published = []
        for name, service in self.services.items():
            for port in service.get("ports") or []:
                spec = str(port).split("/")[0].split(":")
                if len(spec) < 2:
                    continue
                host_port, container_port = int(spec[-2]), int(spec[-1])
                log_path = os.path.join(self.work, "logs", "publish-%d.log" % host_port)
                script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_forward.py")
                out = open(log_path, "wb")
                process = subprocess.Popen(
                    ["ip", "netns", "exec", self.host_ns, sys.executable, script, "127.0.0.1", str(host_port),
                     name, str(container_port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                out.close()
                self.forwarders.append(process)
                published.append((name, host_port))
        return published

    def in_host(self, argv, timeout):
        return run(["ip", "netns", "exec", self.host_ns] + argv, timeout=timeout, check=False,
                   env={"PATH": self.path_dir + ":/usr/bin:/bin", "HOME": self.work})

    # --- shutdown
    def stop_all(self, check_exit):
        """SIGTERM to every running instance, then SIGKILL after its
        stop_grace_period. Returns the instances that did not exit 0."""
        bad = []
        running = [(name, i) for name, insts in self.instances.items() for i in insts
                   if i.process is not None and i.process.poll() is None]
        for _, instance in running:
            try:
                os.killpg(instance.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name, instance in running:
            grace = duration(self.services[name].get("stop_grace_period"), DEFAULT_STOP_GRACE)
            try:
                code = instance.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(instance.process.pid, signal.SIGKILL)
                instance.process.wait(timeout=10)
                code = "killed after %.0f s" % grace
            if check_exit and code != 0:
                bad.append("%s: %s\n%s" % (instance.label, code, instance.log_tail(15)))
        for process in self.forwarders:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.forwarders = []
        return bad


# ------------------------------------------------------------------ checks --

def http_get(address, port, path):
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (address, port, path), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        return "unreachable (%s)" % error


def demo_models(models_dir, workers):
    """(model, onnx) for each model in the repository that `workers` workers
    can serve: PIPELINE needs `stages`, HYBRID stages x replicas."""
    models = []
    for model in sorted(os.listdir(models_dir)):
        config = os.path.join(models_dir, model, "config.pbtxt")
        if not os.path.isfile(config):
            continue
        text = open(config).read()
        strategy = re.search(r"strategy:\s*(\w+)", text)
        strategy = strategy.group(1) if strategy else "AUTO"
        stages = int((re.search(r"stages:\s*(\d+)", text) or [0, 1])[1]) or 1
        replicas = int((re.search(r"replicas:\s*(\d+)", text) or [0, 1])[1]) or 1
        needed = {"DATA": 1, "PIPELINE": stages, "HYBRID": stages * replicas}.get(strategy)
        versions = sorted((d for d in os.listdir(os.path.join(models_dir, model)) if d.isdigit()), key=int)
        if needed is None or needed > workers or not versions:
            log("skipping %s (%s needs %s workers, the file runs %d)" % (model, strategy, needed, workers))
            continue
        models.append((model, os.path.join(models_dir, model, versions[-1], "model.onnx")))
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--compose-file", action="append", default=None,
                        help="a Compose file; repeated: merged in order, as docker compose -f A -f B")
    parser.add_argument("--expect-client-auth", choices=("mtls", "token"), default=None,
                        help="fail unless the merged files give the coordinator this --client-auth mode")
    options = parser.parse_args()
    source_dir = os.path.abspath(options.source_dir)
    build_dir = os.path.abspath(options.build_dir)
    compose_paths = options.compose_file or [os.path.join(source_dir, "deploy", "compose", "docker-compose.yml")]

    if os.geteuid() != 0:
        print("compose_test: SKIP: needs root (network namespaces, /etc/netns)")
        return SKIP
    if shutil.which("ip") is None:
        print("compose_test: SKIP: no `ip` command (Debian package iproute2)")
        return SKIP

    Network.sweep()
    work = tempfile.mkdtemp(prefix="tessera-compose-test-")
    cluster = Cluster(compose_paths, build_dir, source_dir, work)
    cleaned = []

    def cleanup():
        if cleaned:
            return
        cleaned.append(True)
        cluster.stop_all(check_exit=False)
        cluster.network.down()
        shutil.rmtree(work, ignore_errors=True)

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _: sys.exit(128 + s))

    failures = []
    try:
        # Bearer tokens are opt-in: the first file alone keeps mutual TLS.
        base_coordinator, base_mode = coordinator_client_auth(load_compose(compose_paths[:1]))
        if base_coordinator is not None and base_mode != "mtls":
            raise Failure("%s alone sets --client-auth=%s; token mode must be off by default" % (
                compose_paths[0], base_mode))
        _, client_auth = coordinator_client_auth(cluster.doc)
        log("the coordinator's clients authenticate with %s%s" % (
            client_auth, "" if len(compose_paths) == 1 else " (files: %s)" % ", ".join(
                os.path.basename(p) for p in compose_paths)))
        if options.expect_client_auth and client_auth != options.expect_client_auth:
            raise Failure("the files give the coordinator --client-auth=%s, expected %s" % (
                client_auth, options.expect_client_auth))
        cluster.prepare_image()
        problems = cluster.check_flags()
        if problems:
            raise Failure("the Compose file uses flags the binaries do not accept:\n  " + "\n  ".join(problems))
        log("every flag and TESSERA_* variable in the file is listed by the binaries' --help")
        cluster.prepare_volumes()
        try:
            cluster.create_network()
        except Failure as error:
            if "Operation not permitted" in str(error):
                print("compose_test: SKIP: cannot create network namespaces here: %s" % error)
                return SKIP
            raise
        cluster.up()
        for name in cluster.services:
            if cluster.services[name].get("healthcheck"):
                cluster.wait_healthy(name)

        # Ops endpoints of every server instance, from outside its namespace.
        for name, ops_port in cluster.servers():
            if ops_port is None:
                failures.append("%s sets no ops address (--ops-listen / TESSERA_OPS_LISTEN)" % name)
                continue
            for instance in cluster.instances[name]:
                for path in ("/healthz", "/readyz"):
                    status = http_get(instance.address, ops_port, path)
                    log("%s GET %s on %s:%d -> %s" % (instance.label, path, instance.address, ops_port, status))
                    if status != 200:
                        failures.append("%s: GET %s answered %s" % (instance.label, path, status))

        # Inference through the coordinator: by service name from a
        # namespace on the network, and through the published port.
        published = cluster.publish()
        coordinator = next((n for n in cluster.services
                            if as_list(cluster.services[n].get("command"))[:1] == ["tessera-coordinator"]), None)
        if coordinator is None:
            raise Failure("no service runs tessera-coordinator")
        command = as_list(cluster.services[coordinator].get("command"))
        grpc_port = tessera_flags.port_of(tessera_flags.flag_value(
            command[1:], as_env(cluster.services[coordinator].get("environment")), "listen"))
        coordinator_env = as_env(cluster.services[coordinator].get("environment"))
        certs_dir = cluster.map_paths(coordinator, tessera_flags.flag_value(command[1:], {}, "certs"))
        # How a client authenticates: the client certificate, or in token
        # mode the CA and a token from the coordinator's tokens file (the
        # first line a client's --token-file takes is the file's first token).
        client_security = ["--certs", certs_dir]
        if client_auth == "token":
            tokens = tessera_flags.flag_value(command[1:], coordinator_env, "client_tokens_file")
            tokens_host = cluster.map_paths(coordinator, tokens or "")
            if not tokens or not os.path.isfile(tokens_host):
                raise Failure("--client-auth=token, but --client-tokens-file %r is not a file mounted into %s" % (
                    tokens, coordinator))
            client_security = ["--ca", os.path.join(certs_dir, "ca.pem"), "--token-file", tokens_host]
        models_dir = cluster.map_paths(coordinator, tessera_flags.flag_value(command[1:], {}, "model_repository"))
        workers = sum(cluster.replicas(n) for n in cluster.services
                      if as_list(cluster.services[n].get("command"))[:1] == ["tessera-worker"])
        targets = ["%s:%d" % (coordinator, grpc_port)]
        targets += ["localhost:%d" % port for name, port in published if name == coordinator]
        if len(targets) < 2:
            failures.append("the coordinator's client port is not published")
        input_name, input_file = DEMO_INPUT
        input_path = os.path.join(source_dir, input_file)
        models = demo_models(models_dir, workers)
        if not models:
            failures.append("no model in %s can be served by %d workers" % (models_dir, workers))
        for model, onnx in models:
            local = os.path.join(work, "local", model)
            run(["tessera", "run", "--model", onnx, "--input", "%s=%s" % (input_name, input_path),
                 "--output-dir", local], timeout=INFER_TIMEOUT,
                env={"PATH": cluster.path_dir + ":/usr/bin:/bin"})
            for target in targets:
                out = os.path.join(work, "infer", model, target.replace(":", "_"))
                result = cluster.in_host(["tessera", "infer", "--server", target] + client_security + [
                                          "--model", model, "--input", "%s=%s" % (input_name, input_path),
                                          "--output-dir", out], timeout=INFER_TIMEOUT)
                if result.returncode != 0:
                    failures.append("tessera infer --server %s --model %s exited %d:\n%s" % (
                        target, model, result.returncode, result.stdout.decode(errors="replace")[-2000:]))
                    continue
                for npy in sorted(os.listdir(local)):
                    compared = run(["tessera", "compare", os.path.join(out, npy), os.path.join(local, npy)],
                                   check=False, env={"PATH": cluster.path_dir + ":/usr/bin:/bin"})
                    verdict = compared.stdout.decode(errors="replace").strip().splitlines()
                    log("%s via %s, %s: %s" % (model, target, npy, verdict[-1] if verdict else compared.returncode))
                    if compared.returncode != 0:
                        failures.append("%s via %s: %s differs from tessera run" % (model, target, npy))

        # Token mode: a call without a token is refused, whatever certificate
        # it presents.
        if client_auth == "token" and models:
            for target in targets:
                result = cluster.in_host(["tessera", "infer", "--server", target, "--certs", certs_dir, "--model",
                                          models[0][0], "--input", "%s=%s" % (input_name, input_path)],
                                         timeout=INFER_TIMEOUT)
                output = result.stdout.decode(errors="replace")
                log("without a token via %s: exit %d (%s)" % (
                    target, result.returncode, output.strip().splitlines()[-1] if output.strip() else ""))
                if result.returncode == 0 or "UNAUTHENTICATED" not in output:
                    failures.append("token mode: tessera infer --server %s with a client certificate and no token "
                                    "was not refused with UNAUTHENTICATED (exit %d):\n%s" % (
                                        target, result.returncode, output[-2000:]))

        # docker compose down: SIGTERM, exit 0 within stop_grace_period.
        failures += ["did not stop cleanly on SIGTERM: " + b for b in cluster.stop_all(check_exit=True)]
    except Failure as error:
        failures.append(str(error))
    finally:
        if failures:
            for name, instances in cluster.instances.items():
                for instance in instances:
                    if instance.log_path:
                        log("--- log of %s ---\n%s" % (instance.label, instance.log_tail()))
        cleanup()

    if failures:
        log("FAILED:\n- " + "\n- ".join(failures))
        return 1
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
