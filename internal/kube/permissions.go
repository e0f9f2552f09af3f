package kube

import rbacv1 "k8s.io/api/rbac/v1"

// Permissions are the RBAC rules Rewind needs in each namespace it watches,
// and all it uses: it reads workloads, their ReplicaSets and
// ControllerRevisions, pods and events (informers: get, list, watch), and
// updates workloads to roll them back. It never reads Secrets. The Helm
// chart's Role (deploy/helm/rewind, "rewind.rules") grants exactly these
// (deploy/chart_test.go), and the package's tests run under that Role.
var Permissions = []rbacv1.PolicyRule{
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"get", "list", "watch", "update"}},
	{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "controllerrevisions"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"get", "list", "watch"}},
}
