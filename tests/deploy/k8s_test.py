#!/usr/bin/env python3
"""deploy/k8s: every overlay rendered offline and checked against the binaries.

Renders deploy/k8s/overlays/* with `kubectl kustomize` and/or `kustomize
build` (whichever is on PATH; scripts/fetch-kustomize.sh installs a pinned
kustomize) and checks the manifests as a cluster would meet them:

  * every container's command is a binary the image holds (the Dockerfile's
    COPY lines), and every flag in its args and every TESSERA_* variable in
    its env is one that binary's --help lists;
  * the containerPorts are the ports of --listen and --ops-listen; every
    Service's targetPort is a containerPort of the pods it selects; the worker
    Service is headless and the coordinator's --workers dns:///NAME:PORT names
    it (after $(POD_NAMESPACE) expansion) and its port;
  * startup and liveness probes GET /healthz, readiness /readyz, on the ops
    port; Prometheus scrape annotations name the ops port;
  * requests and limits for cpu and memory, requests within limits;
  * the certificate volume mounted at --certs maps the Secret's keys to the
    files the server reads (ca.pem, ROLE.pem, ROLE.key: the names `tessera
    certs` writes), and the Secret is made either by a cert-manager
    Certificate (with the role's spiffe://tessera/ROLE URI SAN and, for
    workers, the DNS name the coordinator dials) or by the documented
    `kubectl create secret` in deploy/k8s/README.md;
  * --model-repository is a read-only mounted volume;
  * bearer tokens (an overlay with components/client-tokens): --client-auth
    (or TESSERA_CLIENT_AUTH) is mtls or token, --client-tokens-file is set
    exactly in token mode and is an item of a read-only mounted Secret
    volume, and that Secret is made by the documented `kubectl create secret
    generic ... --from-file=KEY=` in deploy/k8s/README.md; overlays without
    the component keep mutual TLS (token mode is off by default);
  * the NetworkPolicy selects the worker pods and admits only coordinator
    pods on the workers' gRPC port, the ops port open; the HPA
    (autoscaling/v2, cpu) targets the worker Deployment; PodDisruptionBudgets
    cover both;
  * live: a real tessera-worker and tessera-coordinator started with each
    overlay's rendered args and env (paths mapped to temporary directories,
    the certificate directory laid out by the volume's items from a real
    `tessera certs`), in a network namespace of their own so the fixed ports
    are free; their probe paths are fetched over HTTP (needs root and `ip`;
    skipped with a message otherwise). A coordinator in token mode gets a
    generated tokens file through its Secret volume, and `tessera status`
    with that token (and the CA only) must be answered, while one with the
    client certificate and no token must be refused with UNAUTHENTICATED.

Usage: k8s_test.py --build-dir BUILD --source-dir REPO
"""

import argparse
import math
import secrets
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tessera_flags  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover
    print("k8s_test: python3-yaml is missing (scripts/install-deps.sh installs it)")
    sys.exit(1)

ROLE_OF_BINARY = re.compile(r"^tessera-(\w+)$")  # tessera-worker -> worker
DNS_TARGET = re.compile(r"^dns:///([^:/]+):(\d+)$")
LIVE_START_WITHIN = 30.0


def log(message):
    print("k8s_test: " + message, flush=True)


# ----------------------------------------------------------------- render --

def renderers():
    found = []
    if shutil.which("kubectl"):
        found.append(("kubectl kustomize", ["kubectl", "kustomize"]))
    for candidate in (os.environ.get("TESSERA_KUSTOMIZE"), shutil.which("kustomize"), "/usr/local/bin/kustomize"):
        if candidate and os.access(candidate, os.X_OK):
            found.append(("kustomize build", [candidate, "build"]))
            break
    return found


def render(command, directory):
    result = subprocess.run(command + [directory], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                            check=False)
    if result.returncode != 0:
        raise AssertionError("%s %s failed:\n%s" % (" ".join(command), directory, result.stderr.decode()))
    return [d for d in yaml.safe_load_all(result.stdout) if d]


# ------------------------------------------------------------ quantities --

def cpu(quantity):
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory(quantity):
    text = str(quantity)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * factor
    return float(text)


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ------------------------------------------------------------- the checks --

class Overlay:
    def __init__(self, name, docs, context):
        self.name, self.docs, self.ctx = name, docs, context
        self.errors = []

    def error(self, message):
        self.errors.append("%s: %s" % (self.name, message))

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def deployments(self):
        return {d["metadata"]["name"]: d for d in self.of_kind("Deployment")}

    @staticmethod
    def pod_labels(deployment):
        return deployment["spec"]["template"]["metadata"].get("labels", {})

    @staticmethod
    def namespace(doc):
        return doc["metadata"].get("namespace", "default")

    def container_env(self, deployment, container):
        """{name: value} as the kubelet would set it, for what can be known
        offline (fieldRef namespace, resourceFieldRef limits.cpu)."""
        env = {}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            source = item.get("valueFrom") or {}
            if (source.get("fieldRef") or {}).get("fieldPath") == "metadata.namespace":
                env[item["name"]] = self.namespace(deployment)
            elif "resourceFieldRef" in source:
                ref = source["resourceFieldRef"]
                target = next((c for c in deployment["spec"]["template"]["spec"]["containers"]
                               if c["name"] == ref.get("containerName", container["name"])), container)
                kind, _, resource = ref["resource"].partition(".")
                quantity = ((target.get("resources") or {}).get(kind) or {}).get(resource)
                if quantity is None:
                    self.error("%s: %s refers to unset %s" % (container["name"], item["name"], ref["resource"]))
                    continue
                divisor = ref.get("divisor", "1")
                value = cpu(quantity) / cpu(divisor) if resource == "cpu" else memory(quantity) / memory(divisor)
                env[item["name"]] = str(int(math.ceil(value)))
            else:
                env[item["name"]] = None  # secrets, configmaps: present, unknown here
        return env

    @staticmethod
    def expand(text, env):
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                      lambda m: env[m.group(1)] if env.get(m.group(1)) is not None else m.group(0), text)

    def containers(self):
        for name, deployment in self.deployments().items():
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                env = self.container_env(deployment, container)
                args = [self.expand(a, env) for a in container.get("args") or []]
                yield name, deployment, container, args, env

    # --- flags, ports, probes, resources
    def check_containers(self):
        for name, deployment, container, args, env in self.containers():
            where = "%s/%s" % (name, container["name"])
            command = container.get("command") or []
            if len(command) != 1 or command[0] not in self.ctx.image:
                self.error("%s: command %s is not one of the image's programs %s" % (
                    where, command, sorted(self.ctx.image)))
                continue
            binary = self.ctx.image[command[0]]
            flag_env = {k: v for k, v in env.items() if tessera_flags.env_flag(k) is not None}
            for problem in tessera_flags.unknown_flags(binary, args, flag_env):
                self.error("%s: %s" % (where, problem))
            for arg in args:
                if "$(" in arg:
                    self.error("%s: %r refers to a variable the container does not define" % (where, arg))

            ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
            listen = tessera_flags.port_of(tessera_flags.flag_value(args, flag_env, "listen"))
            ops = tessera_flags.port_of(tessera_flags.flag_value(args, flag_env, "ops_listen"))
            if listen is None or listen not in ports.values():
                self.error("%s: --listen port %s is not a containerPort %s" % (where, listen, ports))
            if ops is None or ops not in ports.values():
                self.error("%s: --ops-listen port %s is not a containerPort %s" % (where, ops, ports))

            def probe_port(probe):
                port = (probe.get("httpGet") or {}).get("port")
                return ports.get(port) if isinstance(port, str) else port

            for probe_name, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                     ("readinessProbe", "/readyz")):
                probe = container.get(probe_name)
                if not probe or "httpGet" not in probe:
                    self.error("%s: no httpGet %s" % (where, probe_name))
                    continue
                if probe["httpGet"].get("path") != path or probe_port(probe) != ops:
                    self.error("%s: %s GETs %s on port %s, not %s on the ops port %s" % (
                        where, probe_name, probe["httpGet"].get("path"), probe_port(probe), path, ops))

            annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
            if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/port") != str(ops) \
                    or annotations.get("prometheus.io/path", "/metrics") != "/metrics":
                self.error("%s: Prometheus annotations %s do not name /metrics on the ops port %s" % (
                    where, annotations, ops))

            resources = container.get("resources") or {}
            for resource, parse in (("cpu", cpu), ("memory", memory)):
                request = (resources.get("requests") or {}).get(resource)
                limit = (resources.get("limits") or {}).get(resource)
                if request is None or limit is None:
                    self.error("%s: %s request and limit must both be set" % (where, resource))
                elif parse(request) > parse(limit):
                    self.error("%s: %s request %s above its limit %s" % (where, resource, request, limit))
            budget = tessera_flags.flag_value(args, flag_env, "worker_memory_mb")
            limit = ((resources.get("limits") or {}).get("memory"))
            if budget is not None and limit is not None and int(budget) * 2**20 >= memory(limit):
                self.error("%s: --worker-memory-mb %s does not fit the memory limit %s" % (where, budget, limit))

            self.check_volumes(name, deployment, container, args, flag_env, command[0])

    def check_volumes(self, name, deployment, container, args, flag_env, program):
        where = "%s/%s" % (name, container["name"])
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes") or []}
        mounts = {m["mountPath"].rstrip("/"): m for m in container.get("volumeMounts") or []}
        role = ROLE_OF_BINARY.match(program)
        certs = tessera_flags.flag_value(args, flag_env, "certs")
        if role and certs is None:
            self.error("%s: no --certs: mutual TLS needs the role's certificate" % where)
        if role and certs is not None:
            role = role.group(1)
            mount = mounts.get(certs.rstrip("/"))
            volume = volumes.get(mount["name"]) if mount else None
            secret = (volume or {}).get("secret")
            if not secret:
                self.error("%s: --certs %s is not a mounted Secret" % (where, certs))
            else:
                expected = self.ctx.role_files(role)
                paths = {item["path"]: item["key"] for item in secret.get("items") or []}
                if set(paths) != expected:
                    self.error("%s: the Secret's items give %s, the server reads %s" % (
                        where, sorted(paths), sorted(expected)))
                self.ctx.secrets_used.append((self, secret["secretName"], role, set(paths.values())))
        self.check_client_tokens(where, program, args, flag_env, volumes, mounts)
        models = tessera_flags.flag_value(args, flag_env, "model_repository")
        if models is not None:
            mount = mounts.get(models.rstrip("/"))
            volume = volumes.get(mount["name"]) if mount else None
            if not volume or not mount.get("readOnly"):
                self.error("%s: --model-repository %s is not a read-only mounted volume" % (where, models))
            elif "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                if not any(p["metadata"]["name"] == claim for p in self.of_kind("PersistentVolumeClaim")):
                    self.error("%s: PersistentVolumeClaim %s is not in the manifests" % (where, claim))

    def check_client_tokens(self, where, program, args, flag_env, volumes, mounts):
        """--client-auth / --client-tokens-file (common/bearer_token_auth.h)."""
        mode = tessera_flags.flag_value(args, flag_env, "client_auth")
        tokens = tessera_flags.flag_value(args, flag_env, "client_tokens_file")
        if program != "tessera-coordinator":
            if mode is not None or tokens is not None:
                self.error("%s: only the coordinator takes --client-auth / --client-tokens-file" % where)
            return
        if mode not in (None, "mtls", "token"):
            self.error("%s: --client-auth %r is neither mtls nor token" % (where, mode))
            return
        if mode != "token":
            if tokens:
                self.error("%s: --client-tokens-file %s without --client-auth=token" % (where, tokens))
            return
        self.ctx.token_overlays.add(self.name)
        if not tokens:
            self.error("%s: --client-auth=token needs --client-tokens-file" % where)
            return
        directory, file_name = os.path.split(tokens.rstrip("/"))
        mount = mounts.get(directory)
        volume = volumes.get(mount["name"]) if mount else None
        secret = (volume or {}).get("secret")
        if not secret or not mount.get("readOnly"):
            self.error("%s: --client-tokens-file %s is not in a read-only mounted Secret volume" % (where, tokens))
            return
        keys = {item["key"] for item in secret.get("items") or [] if item["path"] == file_name}
        if not keys:
            self.error("%s: the Secret volume at %s has no item with path %s" % (where, directory, file_name))
            return
        self.ctx.secrets_used.append((self, secret["secretName"], "client-tokens", keys))

    # --- services and discovery
    def check_services(self):
        deployments = self.deployments()
        for service in self.of_kind("Service"):
            selector = service["spec"].get("selector") or {}
            targets = [d for d in deployments.values() if selects(selector, self.pod_labels(d))]
            if not targets:
                self.error("Service %s selects no Deployment's pods" % service["metadata"]["name"])
                continue
            for port in service["spec"].get("ports") or []:
                target = port.get("targetPort", port["port"])
                for deployment in targets:
                    ports = [p for c in deployment["spec"]["template"]["spec"]["containers"]
                             for p in c.get("ports") or []]
                    if not any(p.get("name") == target or p["containerPort"] == target for p in ports):
                        self.error("Service %s targetPort %s is no containerPort of %s" % (
                            service["metadata"]["name"], target, deployment["metadata"]["name"]))

        services = {s["metadata"]["name"]: s for s in self.of_kind("Service")}
        for name, deployment, container, args, env in self.containers():
            workers = tessera_flags.flag_value(args, env, "workers")
            if workers is None:
                continue
            match = DNS_TARGET.match(workers)
            if not match:
                self.error("%s: --workers %s is not dns:///NAME:PORT (pods come and go)" % (name, workers))
                continue
            host, port = match.group(1), int(match.group(2))
            self.ctx.worker_hosts.append((self, host))
            labels = host.split(".")
            service = services.get(labels[0])
            if service is None or labels[1:] != [self.namespace(service), "svc", "cluster", "local"]:
                self.error("%s: --workers host %s is not SERVICE.%s.svc.cluster.local of a Service here" % (
                    name, host, self.namespace(deployment)))
                continue
            if service["spec"].get("clusterIP") != "None":
                self.error("Service %s is not headless: DNS would answer one virtual IP, not every worker" % labels[0])
            if port not in [p["port"] for p in service["spec"].get("ports") or []]:
                self.error("%s: --workers port %d is not a port of Service %s" % (name, port, labels[0]))

    # --- network policy, autoscaler, disruption budgets
    def roles(self):
        """{program: (deployment, pod labels, grpc port, ops port)}."""
        found = {}
        for name, deployment, container, args, env in self.containers():
            program = (container.get("command") or [""])[0]
            flag_env = {k: v for k, v in env.items() if tessera_flags.env_flag(k) is not None}
            found[program] = (deployment, self.pod_labels(deployment),
                              tessera_flags.port_of(tessera_flags.flag_value(args, flag_env, "listen")),
                              tessera_flags.port_of(tessera_flags.flag_value(args, flag_env, "ops_listen")))
        return found

    def check_policy(self):
        roles = self.roles()
        if "tessera-worker" not in roles or "tessera-coordinator" not in roles:
            self.error("needs a tessera-worker and a tessera-coordinator Deployment")
            return
        worker, worker_labels, worker_grpc, worker_ops = roles["tessera-worker"]
        _, coordinator_labels, _, _ = roles["tessera-coordinator"]
        policies = [p for p in self.of_kind("NetworkPolicy")
                    if selects(p["spec"].get("podSelector", {}).get("matchLabels"), worker_labels)]
        if not policies:
            self.error("no NetworkPolicy selects the worker pods")
        for policy in policies:
            name = policy["metadata"]["name"]
            if "Ingress" not in (policy["spec"].get("policyTypes") or ["Ingress"]):
                self.error("NetworkPolicy %s does not restrict ingress" % name)
            ops_open = coordinators_admitted = False
            for rule in policy["spec"].get("ingress") or []:
                ports = [p.get("port") for p in rule.get("ports") or []]
                named = [p for p in ports if isinstance(p, str)]
                if named:
                    self.error("NetworkPolicy %s: use port numbers (named ports %s)" % (name, named))
                covers_grpc = not ports or worker_grpc in ports
                sources = rule.get("from")
                if not sources:
                    if covers_grpc:
                        self.error("NetworkPolicy %s admits anyone on the workers' gRPC port %d" % (name, worker_grpc))
                    ops_open = ops_open or worker_ops in ports or not ports
                    continue
                if covers_grpc and any(selects((s.get("podSelector") or {}).get("matchLabels"), coordinator_labels)
                                       for s in sources):
                    coordinators_admitted = True
                if covers_grpc:
                    for source in sources:
                        if set(source) != {"podSelector"} or \
                                not selects(source["podSelector"].get("matchLabels"), coordinator_labels) or \
                                selects(source["podSelector"].get("matchLabels"), worker_labels):
                            self.error("NetworkPolicy %s admits %s on the gRPC port, not only coordinator pods" % (
                                name, source))
                if worker_ops in ports or not ports:
                    ops_open = True
            if not coordinators_admitted:
                self.error("NetworkPolicy %s does not admit coordinator pods on the workers' gRPC port %d" % (
                    name, worker_grpc))
            if not ops_open:
                self.error("NetworkPolicy %s closes the workers' ops port %s (probes, scraping)" % (name, worker_ops))

        hpas = self.of_kind("HorizontalPodAutoscaler")
        if not any(h["apiVersion"] == "autoscaling/v2" and h["spec"]["scaleTargetRef"]["kind"] == "Deployment"
                   and h["spec"]["scaleTargetRef"]["name"] == worker["metadata"]["name"]
                   and any((m.get("resource") or {}).get("name") == "cpu" for m in h["spec"].get("metrics") or [])
                   and h["spec"].get("minReplicas", 1) <= h["spec"]["maxReplicas"] for h in hpas):
            self.error("no autoscaling/v2 HorizontalPodAutoscaler on cpu targets Deployment %s" %
                       worker["metadata"]["name"])

        for program, (deployment, labels, _, _) in roles.items():
            if not any(selects(p["spec"]["selector"].get("matchLabels"), labels)
                       for p in self.of_kind("PodDisruptionBudget")):
                self.error("no PodDisruptionBudget covers %s" % deployment["metadata"]["name"])

    def run(self):
        self.check_containers()
        self.check_services()
        self.check_policy()
        return self.errors


class Context:
    """What the checks learn from the repository and the binaries."""

    def __init__(self, source_dir, build_dir, work):
        self.source_dir, self.build_dir, self.work = source_dir, build_dir, work
        self.image = tessera_flags.image_files(os.path.join(source_dir, "deploy", "docker", "Dockerfile"),
                                               build_dir, source_dir)
        self.certs_dir = os.path.join(work, "tessera-certs")
        subprocess.run([self.image["tessera"], "certs", "--out", self.certs_dir, "--hosts", "localhost"],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        self.readme = open(os.path.join(source_dir, "deploy", "k8s", "README.md")).read()
        self.secrets_used = []  # (overlay, secret name, role, keys)
        self.worker_hosts = []  # (overlay, host the coordinator dials)
        self.token_overlays = set()  # overlays whose coordinator takes bearer tokens

    def role_files(self, role):
        """The files of `tessera certs` a server of `role` reads: the CA
        certificate and the role's own pair (never ca.key)."""
        return {f for f in os.listdir(self.certs_dir) if f == "ca.pem" or f.startswith(role + ".")}

    def check_secrets(self):
        errors = []
        for overlay, secret, role, keys in self.secrets_used:
            certificates = [c for c in overlay.of_kind("Certificate") if c["spec"].get("secretName") == secret]
            if certificates:
                spec = certificates[0]["spec"]
                if "spiffe://tessera/%s" % role not in (spec.get("uris") or []):
                    errors.append("%s: Certificate for %s lacks the URI SAN spiffe://tessera/%s" % (
                        overlay.name, secret, role))
                if keys - {"tls.crt", "tls.key", "ca.crt"}:
                    errors.append("%s: cert-manager writes tls.crt, tls.key, ca.crt; the volume wants %s" % (
                        overlay.name, sorted(keys)))
                if role == "worker":
                    for other, host in self.worker_hosts:
                        if other is overlay and host not in (spec.get("dnsNames") or []):
                            errors.append("%s: the worker Certificate does not name %s, which the coordinator "
                                          "dials and verifies" % (overlay.name, host))
                continue
            documented = re.search(r"kubectl[^\n]*create secret generic %s\b(.|\\\n)*" % re.escape(secret),
                                   self.readme)
            if not documented:
                errors.append("%s: Secret %s is neither made by a Certificate nor documented in "
                              "deploy/k8s/README.md (kubectl create secret generic %s)" % (overlay.name, secret, secret))
                continue
            command = documented.group(0).split("\n\n")[0]
            for key in keys:
                if "--from-file=%s=" % key not in command:
                    errors.append("%s: README's kubectl create secret %s gives no key %s" % (overlay.name, secret, key))
        return errors


# ------------------------------------------------------------------- live --

class LiveRun:
    """The rendered worker and coordinator containers as processes, in a
    network namespace of their own (the manifests' fixed ports are free)."""

    def __init__(self, context, overlay):
        self.ctx, self.overlay = context, overlay
        self.ns = "tsk%d-%s" % (os.getpid(), overlay.name[:8])
        self.processes = []

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.ns], check=True, timeout=30)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True, timeout=30)
        # The name the coordinator dials resolves to the worker beside it,
        # and the certificates name it, as the cluster's DNS and the
        # documented `tessera certs --hosts` do.
        hosts = [host for overlay, host in self.ctx.worker_hosts if overlay is self.overlay]
        os.makedirs(os.path.join("/etc/netns", self.ns), exist_ok=True)
        with open(os.path.join("/etc/netns", self.ns, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost %s\n::1\tlocalhost\n" % " ".join(hosts))
        self.certs_dir = os.path.join(self.ctx.work, self.overlay.name, "tessera-certs")
        subprocess.run([self.ctx.image["tessera"], "certs", "--out", self.certs_dir, "--hosts",
                        ",".join(hosts + ["localhost"])], check=True, stdout=subprocess.DEVNULL, timeout=60)
        # What an operator puts in a tokens Secret: one random token a line.
        self.token_file = os.path.join(self.ctx.work, self.overlay.name, "client-token")
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("# tessera client tokens\n%s\n" % secrets.token_hex(32))
        return self

    def __exit__(self, *exc):
        for process, _ in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", self.ns], check=False, timeout=30)
        shutil.rmtree(os.path.join("/etc/netns", self.ns), ignore_errors=True)

    @staticmethod
    def sweep():
        """Namespaces and /etc/netns entries of earlier runs that were killed."""
        listed = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, timeout=30, check=False)
        names = [line.split()[0] for line in listed.stdout.decode().splitlines() if line.split()]
        if os.path.isdir("/etc/netns"):
            names += os.listdir("/etc/netns")
        for name in set(names):
            match = re.match(r"tsk(\d+)-", name)
            if match and not os.path.exists("/proc/" + match.group(1)):
                subprocess.run(["ip", "netns", "del", name], check=False, timeout=30, stderr=subprocess.DEVNULL)
                shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)

    def lay_out(self, deployment, container):
        """Temporary directories for the container's volume mounts: a Secret
        volume becomes its items, taken from a real `tessera certs` output
        stored under the Secret's keys (a tokens Secret's item: a generated
        tokens file); the model volume is examples/models."""
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes") or []}
        as_secret = {"tls.crt": "%s.pem", "tls.key": "%s.key", "ca.crt": "ca.pem"}
        role = ROLE_OF_BINARY.match(container["command"][0]).group(1)
        mapping = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            host = os.path.join(self.ctx.work, self.overlay.name, container["name"], mount["name"])
            if "secret" in volume:
                os.makedirs(host)
                for item in volume["secret"].get("items") or []:
                    if item["key"] in as_secret:
                        source = as_secret[item["key"]]
                        source = os.path.join(self.certs_dir, source % role if "%s" in source else source)
                    else:
                        source = self.token_file
                    shutil.copy(source, os.path.join(host, item["path"]))
                    os.chmod(os.path.join(host, item["path"]), 0o600)
            elif "persistentVolumeClaim" in volume:
                host = os.path.join(self.ctx.source_dir, "examples", "models")
            else:
                os.makedirs(host)
            mapping[mount["mountPath"].rstrip("/")] = host
        return mapping

    def start(self, deployment, container, args, env):
        mapping = self.lay_out(deployment, container)

        def mapped(text):
            return tessera_flags.map_paths(text, mapping)

        program = self.ctx.image[container["command"][0]]
        process_env = {"PATH": "/usr/bin:/bin", "HOME": self.ctx.work}
        process_env.update({k: mapped(v) for k, v in env.items() if v is not None})
        log_path = os.path.join(self.ctx.work, "%s-%s.log" % (self.overlay.name, container["name"]))
        with open(log_path, "wb") as out:
            process = subprocess.Popen(["ip", "netns", "exec", self.ns, program] + [mapped(a) for a in args],
                                       env=process_env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.processes.append((process, log_path))
        return process, log_path

    def cli(self, argv, timeout=30):
        """`tessera ARGV` inside the namespace: (exit code, output)."""
        result = subprocess.run(["ip", "netns", "exec", self.ns, self.ctx.image["tessera"]] + argv,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                env={"PATH": "/usr/bin:/bin", "HOME": self.ctx.work})
        return result.returncode, result.stdout.decode(errors="replace")

    def get(self, port, path):
        result = subprocess.run(["ip", "netns", "exec", self.ns, "curl", "-s", "-o", "/dev/null", "-m", "3",
                                 "-w", "%{http_code}", "http://127.0.0.1:%d%s" % (port, path)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10, check=False)
        return result.stdout.decode().strip() or "000"


def live_check(context, overlay):
    """Starts the worker, waits for its probes, then the coordinator (which
    resolves the worker's name to it): /healthz must answer 200 on both,
    /readyz 200 on the worker and some HTTP answer on the coordinator (it is
    ready only with enough workers)."""
    errors = []
    with LiveRun(context, overlay) as live:
        for program in ("tessera-worker", "tessera-coordinator"):
            for name, deployment, container, args, env in overlay.containers():
                if container.get("command") != [program]:
                    continue
                process, log_path = live.start(deployment, container, args, env)
                ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
                wanted = {}
                for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
                    get = container[probe_name]["httpGet"]
                    wanted[get["path"]] = ports.get(get["port"], get["port"])

                def good(answers):
                    if answers.get("/healthz") != "200" or any(code == "000" for code in answers.values()):
                        return False
                    return program != "tessera-worker" or all(code == "200" for code in answers.values())

                deadline = time.monotonic() + LIVE_START_WITHIN
                answers = {}
                while time.monotonic() < deadline and process.poll() is None:
                    answers = {path: live.get(port, path) for path, port in wanted.items()}
                    if good(answers):
                        break
                    time.sleep(0.3)
                log("%s: %s with the rendered args and env: %s" % (overlay.name, program, answers))
                if program == "tessera-coordinator" and overlay.name in context.token_overlays and good(answers):
                    errors += token_check(live, overlay, args, env)
                if process.poll() is not None or not good(answers):
                    with open(log_path, errors="replace") as f:
                        tail = "".join(f.readlines()[-20:])
                    errors.append("%s: %s started as rendered answered %s%s:\n%s" % (
                        overlay.name, program, answers or "nothing",
                        "" if process.poll() is None else " and exited %d" % process.returncode, tail))
    return errors


def token_check(live, overlay, args, env):
    """The coordinator in token mode: `tessera status` with the token and the
    CA alone is answered; with the client certificate and no token it is
    refused with UNAUTHENTICATED."""
    flag_env = {k: v for k, v in env.items() if tessera_flags.env_flag(k) is not None}
    server = "localhost:%d" % tessera_flags.port_of(tessera_flags.flag_value(args, flag_env, "listen"))
    errors = []
    code, output = live.cli(["status", "--server", server, "--ca", os.path.join(live.certs_dir, "ca.pem"),
                             "--token-file", live.token_file, "--json"])
    log("%s: tessera status with the token: exit %d" % (overlay.name, code))
    if code != 0:
        errors.append("%s: tessera status --token-file against the token-mode coordinator exited %d:\n%s" % (
            overlay.name, code, output[-1500:]))
    code, output = live.cli(["status", "--server", server, "--certs", live.certs_dir, "--json"])
    log("%s: tessera status with a client certificate and no token: exit %d (%s)" % (
        overlay.name, code, output.strip().splitlines()[-1] if output.strip() else ""))
    if code == 0 or "UNAUTHENTICATED" not in output:
        errors.append("%s: a call without a token was not refused with UNAUTHENTICATED (exit %d):\n%s" % (
            overlay.name, code, output[-1500:]))
    return errors


# ------------------------------------------------------------------- main --

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    options = parser.parse_args()
    source_dir, build_dir = os.path.abspath(options.source_dir), os.path.abspath(options.build_dir)
    k8s = os.path.join(source_dir, "deploy", "k8s")

    found = renderers()
    if not found:
        print("k8s_test: FAILED: neither kubectl nor kustomize is on PATH; scripts/fetch-kustomize.sh "
              "(run by scripts/install-deps.sh) installs the pinned kustomize")
        return 1

    work = tempfile.mkdtemp(prefix="tessera-k8s-test-")
    errors = []
    try:
        context = Context(source_dir, build_dir, work)
        overlays_dir = os.path.join(k8s, "overlays")
        names = sorted(d for d in os.listdir(overlays_dir)
                       if os.path.isfile(os.path.join(overlays_dir, d, "kustomization.yaml")))
        if not names:
            errors.append("no overlays under %s" % overlays_dir)
        rendered = {}
        for label, command in found:
            render(command, os.path.join(k8s, "base"))
            for name in names:
                docs = render(command, os.path.join(overlays_dir, name))
                log("%s %s: %d objects (%s)" % (label, name, len(docs), ", ".join(
                    sorted({d["kind"] for d in docs}))))
                docs.sort(key=lambda d: (d.get("kind", ""), d.get("metadata", {}).get("name", "")))
                rendered.setdefault(name, docs)
                if yaml.safe_dump_all(docs, sort_keys=True) != yaml.safe_dump_all(rendered[name], sort_keys=True):
                    errors.append("%s renders %s differently from %s" % (label, name, found[0][0]))
        overlays = [Overlay(name, docs, context) for name, docs in rendered.items()]
        for overlay in overlays:
            errors += overlay.run()
        errors += context.check_secrets()
        # Bearer tokens are opt-in: the shipped overlays that do not list the
        # client-tokens component keep mutual TLS for clients.
        for name in names:
            tokens_component = "client-tokens" in open(os.path.join(overlays_dir, name, "kustomization.yaml")).read()
            if (name in context.token_overlays) != tokens_component:
                errors.append("%s: token mode is %s, but the overlay %s the client-tokens component" % (
                    name, "on" if name in context.token_overlays else "off",
                    "lists" if tokens_component else "does not list"))
        if not context.token_overlays:
            errors.append("no overlay turns bearer tokens on (overlays/dev-tokens should), so that mode is untested")

        if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("curl") is None:
            log("SKIP live part: starting the rendered containers needs root, ip and curl")
        elif errors:
            log("live part not run: the manifests have errors")
        else:
            LiveRun.sweep()
            for overlay in overlays:
                errors += live_check(context, overlay)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if errors:
        log("FAILED:\n- " + "\n- ".join(errors))
        return 1
    log("passed (%s; overlays %s)" % (", ".join(label for label, _ in found), ", ".join(names)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
