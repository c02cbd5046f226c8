// Package deploy_test checks the deployment files that no engine or cluster runs here:
// the kustomize overlays are built with the kustomize library and every object is decoded
// strictly into the Kubernetes API types, and docker-compose.yml is loaded with
// compose-go (which validates it against the compose schema); then both are
// cross-checked for the mistakes that only show at deploy time.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// cluster is one built overlay, decoded.
type cluster struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	configMaps   map[string]corev1.ConfigMap
	secrets      map[string]corev1.Secret
	policies     []networkingv1.NetworkPolicy
	pdbs         []policyv1.PodDisruptionBudget
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	ingresses    []networkingv1.Ingress
	namespaces   []corev1.Namespace
}

// workload is a pod template with its owner's name.
type workload struct {
	kind, name string
	replicas   int32
	template   corev1.PodTemplateSpec
}

func (c *cluster) workloads() []workload {
	var w []workload
	for _, d := range c.deployments {
		w = append(w, workload{"Deployment", d.Name, ptrOr(d.Spec.Replicas, 1), d.Spec.Template})
	}
	for _, s := range c.statefulSets {
		w = append(w, workload{"StatefulSet", s.Name, ptrOr(s.Spec.Replicas, 1), s.Spec.Template})
	}
	return w
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// strict decodes one object, refusing unknown fields.
func strict(t *testing.T, raw []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(raw, into); err != nil {
		t.Fatalf("strict decode: %v\n%s", err, raw)
	}
}

func build(t *testing.T, overlay string) *cluster {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("k8s", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	c := &cluster{configMaps: map[string]corev1.ConfigMap{}, secrets: map[string]corev1.Secret{}}
	for _, r := range res.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetNamespace() != "tccsuite" && r.GetKind() != "Namespace" {
			t.Errorf("%s/%s is in namespace %q, want tccsuite", r.GetKind(), r.GetName(), r.GetNamespace())
		}
		switch r.GetKind() {
		case "Deployment":
			var o appsv1.Deployment
			strict(t, raw, &o)
			c.deployments = append(c.deployments, o)
		case "StatefulSet":
			var o appsv1.StatefulSet
			strict(t, raw, &o)
			c.statefulSets = append(c.statefulSets, o)
		case "Service":
			var o corev1.Service
			strict(t, raw, &o)
			c.services = append(c.services, o)
		case "ConfigMap":
			var o corev1.ConfigMap
			strict(t, raw, &o)
			c.configMaps[o.Name] = o
		case "Secret":
			var o corev1.Secret
			strict(t, raw, &o)
			c.secrets[o.Name] = o
		case "NetworkPolicy":
			var o networkingv1.NetworkPolicy
			strict(t, raw, &o)
			c.policies = append(c.policies, o)
		case "PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			strict(t, raw, &o)
			c.pdbs = append(c.pdbs, o)
		case "HorizontalPodAutoscaler":
			var o autoscalingv2.HorizontalPodAutoscaler
			strict(t, raw, &o)
			c.hpas = append(c.hpas, o)
		case "Ingress":
			var o networkingv1.Ingress
			strict(t, raw, &o)
			c.ingresses = append(c.ingresses, o)
		case "Namespace":
			var o corev1.Namespace
			strict(t, raw, &o)
			c.namespaces = append(c.namespaces, o)
		default:
			t.Errorf("overlay %s: unexpected kind %s (add it to this test)", overlay, r.GetKind())
		}
	}
	return c
}

var components = []string{"coordinator", "order", "inventory", "payment"}

func TestKustomizeOverlays(t *testing.T) {
	for _, overlay := range []string{"dev", "prod"} {
		t.Run(overlay, func(t *testing.T) {
			c := build(t, overlay)
			checkContainers(t, c)
			checkServices(t, c)
			checkReferences(t, c)
			checkPolicies(t, c)
			checkShape(t, c, overlay)
		})
	}
}

func imageTagged(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	return colon > slash && image[colon+1:] != "" && image[colon+1:] != "latest"
}

func checkContainers(t *testing.T, c *cluster) {
	for _, w := range c.workloads() {
		spec := w.template.Spec
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s %s: pod must set runAsNonRoot", w.kind, w.name)
		}
		for _, ct := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			where := fmt.Sprintf("%s %s container %s", w.kind, w.name, ct.Name)
			if !imageTagged(ct.Image) {
				t.Errorf("%s: image %q is untagged or latest", where, ct.Image)
			}
			if ct.ReadinessProbe == nil || ct.LivenessProbe == nil {
				t.Errorf("%s: needs readiness and liveness probes", where)
			}
			for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := ct.Resources.Requests[res]; !ok {
					t.Errorf("%s: no %s request", where, res)
				}
				if _, ok := ct.Resources.Limits[res]; !ok {
					t.Errorf("%s: no %s limit", where, res)
				}
			}
			sc := ct.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s: securityContext must be read-only, no privilege escalation, drop ALL", where)
			}
		}
		if slices.Contains(components, w.name) {
			ct := spec.Containers[0]
			if ct.ReadinessProbe == nil || ct.LivenessProbe == nil ||
				ct.ReadinessProbe.HTTPGet == nil || ct.ReadinessProbe.HTTPGet.Path != "/readyz" ||
				ct.LivenessProbe.HTTPGet == nil || ct.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("%s: probes must be /readyz and /healthz", w.name)
			}
			a := w.template.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("%s: missing Prometheus scrape annotations", w.name)
			}
			if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
				t.Errorf("%s: termination grace must cover the 20 s shutdown plus the preStop pause", w.name)
			}
		}
	}
}

func selects(sel map[string]string, pod map[string]string) bool {
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(pod))
}

func checkServices(t *testing.T, c *cluster) {
	for _, s := range c.services {
		found := false
		for _, w := range c.workloads() {
			if selects(s.Spec.Selector, w.template.Labels) {
				found = true
				ports := map[string]bool{}
				for _, ct := range w.template.Spec.Containers {
					for _, p := range ct.Ports {
						ports[p.Name] = true
						ports[fmt.Sprint(p.ContainerPort)] = true
					}
				}
				for _, p := range s.Spec.Ports {
					tp := p.TargetPort.String()
					if p.TargetPort.IntValue() == 0 && tp == "" || tp == "0" {
						tp = fmt.Sprint(p.Port)
					}
					if !ports[tp] {
						t.Errorf("Service %s port %d targets %q, which %s %s does not expose", s.Name, p.Port, tp, w.kind, w.name)
					}
				}
			}
		}
		if !found {
			t.Errorf("Service %s selects no pod template", s.Name)
		}
	}
	for _, i := range c.ingresses {
		for _, r := range i.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if !slices.ContainsFunc(c.services, func(s corev1.Service) bool { return s.Name == p.Backend.Service.Name }) {
					t.Errorf("Ingress %s routes to missing Service %s", i.Name, p.Backend.Service.Name)
				}
			}
		}
	}
}

func secretKeys(s corev1.Secret) map[string]bool {
	keys := map[string]bool{}
	for k := range s.Data {
		keys[k] = true
	}
	for k := range s.StringData {
		keys[k] = true
	}
	return keys
}

func checkReferences(t *testing.T, c *cluster) {
	for _, w := range c.workloads() {
		spec := w.template.Spec
		for _, ct := range spec.Containers {
			where := fmt.Sprintf("%s %s container %s", w.kind, w.name, ct.Name)
			for _, ef := range ct.EnvFrom {
				if ef.ConfigMapRef != nil {
					if _, ok := c.configMaps[ef.ConfigMapRef.Name]; !ok {
						t.Errorf("%s: envFrom ConfigMap %s does not exist", where, ef.ConfigMapRef.Name)
					}
				}
				if ef.SecretRef != nil {
					if _, ok := c.secrets[ef.SecretRef.Name]; !ok {
						t.Errorf("%s: envFrom Secret %s does not exist", where, ef.SecretRef.Name)
					}
				}
			}
			for _, e := range ct.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					s, ok := c.secrets[r.Name]
					if !ok || !secretKeys(s)[r.Key] {
						t.Errorf("%s: env %s references Secret %s key %s, which does not exist", where, e.Name, r.Name, r.Key)
					}
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					cm, ok := c.configMaps[r.Name]
					if _, has := cm.Data[r.Key]; !ok || !has {
						t.Errorf("%s: env %s references ConfigMap %s key %s, which does not exist", where, e.Name, r.Name, r.Key)
					}
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.ConfigMap != nil {
				if _, ok := c.configMaps[v.ConfigMap.Name]; !ok {
					t.Errorf("%s %s: volume ConfigMap %s does not exist", w.kind, w.name, v.ConfigMap.Name)
				}
			}
			if v.Secret != nil {
				if _, ok := c.secrets[v.Secret.SecretName]; !ok {
					t.Errorf("%s %s: volume Secret %s does not exist", w.kind, w.name, v.Secret.SecretName)
				}
			}
		}
	}
}

func selectorMatchesSome(t *testing.T, sel metav1.LabelSelector, ws []workload) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	if err != nil {
		t.Errorf("bad selector %v: %v", sel, err)
		return false
	}
	for _, w := range ws {
		if s.Matches(labels.Set(w.template.Labels)) {
			return true
		}
	}
	return false
}

func checkPolicies(t *testing.T, c *cluster) {
	ws := c.workloads()
	for _, p := range c.policies {
		if len(p.Spec.PodSelector.MatchLabels)+len(p.Spec.PodSelector.MatchExpressions) > 0 &&
			!selectorMatchesSome(t, p.Spec.PodSelector, ws) {
			t.Errorf("NetworkPolicy %s selects no pod", p.Name)
		}
		for _, in := range p.Spec.Ingress {
			for _, peer := range in.From {
				if peer.PodSelector != nil && peer.NamespaceSelector == nil && !selectorMatchesSome(t, *peer.PodSelector, ws) {
					t.Errorf("NetworkPolicy %s admits pods that do not exist: %v", p.Name, peer.PodSelector)
				}
			}
		}
	}
	checkParticipantPorts(t, c)
	hasDefaultDeny := slices.ContainsFunc(c.policies, func(p networkingv1.NetworkPolicy) bool {
		return len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.Ingress) == 0 && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
	})
	if !hasDefaultDeny {
		t.Error("no default-deny ingress policy")
	}
}

// participants serve the REST API on their http port and the participant protocol
// (/tcc/) on their tcc port (<S>_TCC_ADDR).
var participants = []string{"order", "inventory", "payment"}

// workloadNamed returns the workload called name.
func (c *cluster) workloadNamed(name string) (workload, bool) {
	for _, w := range c.workloads() {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

// namedPort returns the first container's port called name.
func namedPort(w workload, name string) (corev1.ContainerPort, bool) {
	for _, p := range w.template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// policyPortCovers says whether a policy port admits the container port cp.
func policyPortCovers(pp networkingv1.NetworkPolicyPort, cp corev1.ContainerPort) bool {
	proto := corev1.ProtocolTCP
	if pp.Protocol != nil {
		proto = *pp.Protocol
	}
	cproto := cp.Protocol
	if cproto == "" {
		cproto = corev1.ProtocolTCP
	}
	if proto != cproto {
		return false
	}
	if pp.Port == nil { // every port of the protocol
		return true
	}
	if pp.Port.Type == intstr.String {
		return pp.Port.StrVal == cp.Name
	}
	if pp.EndPort != nil {
		return pp.Port.IntVal <= cp.ContainerPort && cp.ContainerPort <= *pp.EndPort
	}
	return pp.Port.IntVal == cp.ContainerPort
}

// admittedOn lists who the policies let reach port cp of workload w: workload names for
// pod selectors (in this namespace), "namespace:<name>" for namespace selectors,
// "everyone" for a rule with no peers, "ipBlock:<cidr>" for IP blocks, and
// "namespace:<name>/pods" for pods of other namespaces. A rule with no ports admits every
// port.
func admittedOn(t *testing.T, c *cluster, w workload, cp corev1.ContainerPort) []string {
	t.Helper()
	var who []string
	ws := c.workloads()
	for _, p := range c.policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Errorf("NetworkPolicy %s: bad podSelector: %v", p.Name, err)
			continue
		}
		if !sel.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		for _, in := range p.Spec.Ingress {
			if len(in.Ports) > 0 && !slices.ContainsFunc(in.Ports, func(pp networkingv1.NetworkPolicyPort) bool { return policyPortCovers(pp, cp) }) {
				continue
			}
			if len(in.From) == 0 {
				who = append(who, "everyone")
			}
			for _, peer := range in.From {
				switch {
				case peer.IPBlock != nil:
					who = append(who, "ipBlock:"+peer.IPBlock.CIDR)
				case peer.NamespaceSelector != nil:
					ns := peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
					if ns == "" {
						ns = fmt.Sprint(peer.NamespaceSelector)
					}
					if peer.PodSelector != nil {
						ns += "/pods"
					}
					who = append(who, "namespace:"+ns)
				case peer.PodSelector != nil:
					ps, err := metav1.LabelSelectorAsSelector(peer.PodSelector)
					if err != nil {
						t.Errorf("NetworkPolicy %s: bad peer podSelector: %v", p.Name, err)
						continue
					}
					for _, o := range ws {
						if ps.Matches(labels.Set(o.template.Labels)) {
							who = append(who, o.name)
						}
					}
				}
			}
		}
	}
	slices.Sort(who)
	return slices.Compact(who)
}

// checkParticipantPorts: each participant has an http and a tcc port, its Service
// exposes both, the coordinator is pointed at the tcc port, <S>_TCC_ADDR listens on it,
// and the network policies admit coordinator pods, and nobody else, to the tcc port;
// the http ports admit what needs them (the ingress controller to order, order's
// look-ups to inventory and payment, monitoring to all).
func checkParticipantPorts(t *testing.T, c *cluster) {
	registry := map[string]string{}
	for _, kv := range strings.Split(c.configMaps["tccsuite-config"].Data["TCC_PARTICIPANTS"], ",") {
		name, url, _ := strings.Cut(kv, "=")
		registry[name] = url
	}
	wantHTTP := map[string][]string{
		"order":     {"namespace:ingress-nginx", "namespace:monitoring"},
		"inventory": {"namespace:monitoring", "order"},
		"payment":   {"namespace:monitoring", "order"},
	}
	for _, name := range participants {
		w, ok := c.workloadNamed(name)
		if !ok {
			t.Errorf("no workload for participant %s", name)
			continue
		}
		httpPort, okHTTP := namedPort(w, "http")
		tccPort, okTCC := namedPort(w, "tcc")
		if !okHTTP || !okTCC {
			t.Errorf("%s: the container needs ports named http and tcc", name)
			continue
		}
		if httpPort.ContainerPort == tccPort.ContainerPort {
			t.Errorf("%s: http and tcc are the same port %d", name, tccPort.ContainerPort)
		}
		prefix := strings.ToUpper(name) + "_"
		env := map[string]string{}
		for _, e := range w.template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		if got, want := env[prefix+"TCC_ADDR"], fmt.Sprintf(":%d", tccPort.ContainerPort); got != want {
			t.Errorf("%s: %sTCC_ADDR is %q, want %q (the tcc port)", name, prefix, got, want)
		}
		if got, want := env[prefix+"ADDR"], fmt.Sprintf(":%d", httpPort.ContainerPort); got != want {
			t.Errorf("%s: %sADDR is %q, want %q (the http port)", name, prefix, got, want)
		}
		var svcPorts = map[string]corev1.ServicePort{}
		for _, s := range c.services {
			if s.Name == name {
				for _, p := range s.Spec.Ports {
					svcPorts[p.Name] = p
				}
			}
		}
		for _, pn := range []string{"http", "tcc"} {
			if sp, ok := svcPorts[pn]; !ok || sp.TargetPort.String() != pn {
				t.Errorf("Service %s: needs a port %s targeting the container port %s", name, pn, pn)
			}
		}
		if sp, ok := svcPorts["tcc"]; ok {
			if got, want := registry[name], fmt.Sprintf("http://%s:%d", name, sp.Port); got != want {
				t.Errorf("TCC_PARTICIPANTS has %s=%s, want %s (its tcc port)", name, got, want)
			}
		}
		if got := admittedOn(t, c, w, tccPort); !slices.Equal(got, []string{"coordinator"}) {
			t.Errorf("%s: port tcc (%d) admits %v, want only coordinator pods", name, tccPort.ContainerPort, got)
		}
		if got := admittedOn(t, c, w, httpPort); !slices.Equal(got, wantHTTP[name]) {
			t.Errorf("%s: port http (%d) admits %v, want %v", name, httpPort.ContainerPort, got, wantHTTP[name])
		}
	}
}

func checkShape(t *testing.T, c *cluster, overlay string) {
	replicas := map[string]int32{}
	for _, w := range c.workloads() {
		replicas[w.name] = w.replicas
	}
	if replicas["coordinator"] != 3 {
		t.Errorf("coordinator replicas %d, want 3", replicas["coordinator"])
	}
	if replicas["etcd"] != 3 {
		t.Errorf("etcd members %d, want 3", replicas["etcd"])
	}
	if !slices.ContainsFunc(c.services, func(s corev1.Service) bool { return s.Name == "etcd" && s.Spec.ClusterIP == "None" }) {
		t.Error("etcd needs a headless Service")
	}
	_, hasMySQL := replicas["mysql"]
	if hasMySQL != (overlay == "dev") {
		t.Errorf("MySQL StatefulSet present=%v in %s; it belongs to dev only", hasMySQL, overlay)
	}
	if !slices.ContainsFunc(c.pdbs, func(p policyv1.PodDisruptionBudget) bool {
		return p.Spec.Selector.MatchLabels["app.kubernetes.io/name"] == "coordinator"
	}) {
		t.Error("no PodDisruptionBudget for the coordinator")
	}
	if !slices.ContainsFunc(c.hpas, func(h autoscalingv2.HorizontalPodAutoscaler) bool {
		return h.Spec.ScaleTargetRef.Name == "order" && h.Spec.ScaleTargetRef.Kind == "Deployment"
	}) {
		t.Error("no HorizontalPodAutoscaler for order")
	}
	if len(c.ingresses) != 1 || c.ingresses[0].Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "order" {
		t.Error("want one Ingress, for the order API")
	}
	for _, comp := range components {
		if _, ok := replicas[comp]; !ok {
			t.Errorf("no workload for %s", comp)
		}
	}
}

// TestDevSchemasMatchCompose: the dev overlay carries its own copy of the MySQL init SQL
// (kustomize cannot load files outside the overlay); it must not drift from compose's.
func TestDevSchemasMatchCompose(t *testing.T) {
	a, err := os.ReadFile("compose/mysql-init/01-schemas.sql")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("k8s/overlays/dev/mysql-init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("deploy/k8s/overlays/dev/mysql-init.sql differs from deploy/compose/mysql-init/01-schemas.sql")
	}
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnvFiles("../deploy/compose/demo.env"),
		cli.WithDotEnv,
		cli.WithName("tccsuite"),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	want := []string{"coordinator-1", "coordinator-2", "etcd", "inventory", "mysql", "order", "payment"}
	if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	hostPorts := map[string]string{}
	for name, s := range p.Services {
		if !imageTagged(s.Image) {
			t.Errorf("%s: image %q is untagged or latest", name, s.Image)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on missing %s", name, dep)
				continue
			}
			if d.Condition != types.ServiceConditionHealthy || ds.HealthCheck == nil {
				t.Errorf("%s must wait for %s to be healthy", name, dep)
			}
		}
		for _, ef := range s.EnvFiles {
			if _, err := os.Stat(ef.Path); err != nil {
				t.Errorf("%s: env file %s: %v", name, ef.Path, err)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount %s: %v", name, v.Source, err)
				}
			}
		}
		for _, port := range s.Ports {
			key := port.HostIP + ":" + port.Published + "/" + port.Protocol
			if other, ok := hostPorts[key]; ok {
				t.Errorf("host port %s used by both %s and %s", key, other, name)
			}
			hostPorts[key] = name
		}
		if _, ok := s.Environment["TCC_HMAC_KEY"]; !ok && name != "mysql" && name != "etcd" {
			t.Errorf("%s: TCC_HMAC_KEY does not reach it", name)
		}
	}
	// The two coordinators are replicas of one image with distinct identities.
	c1, c2 := p.Services["coordinator-1"], p.Services["coordinator-2"]
	if c1.Image != c2.Image || *c1.Environment["TCC_INSTANCE_ID"] == *c2.Environment["TCC_INSTANCE_ID"] {
		t.Error("coordinator replicas must share the image and differ in TCC_INSTANCE_ID")
	}
	// Secrets come from the env file, never written into the compose file itself.
	file, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"TCC_HMAC_KEY", "TCC_ADMIN_TOKEN", "demo-hmac-key", "demo-admin-token"} {
		if strings.Contains(string(file), secret) {
			t.Errorf("docker-compose.yml names %s: secrets belong in the env file", secret)
		}
	}
	raw, _ := json.Marshal(p.Services["mysql"].Volumes)
	if !strings.Contains(string(raw), "docker-entrypoint-initdb.d") {
		t.Error("mysql does not mount the init scripts")
	}
}
