package components

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	schedulingapiv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// kube-apiserver's post-start hooks that seed RBAC and the system priority
// classes both wait a fixed second before their first try (wait.Poll), and
// the RBAC one writes its roughly 150 objects one after another: together
// about a quarter of a cluster's start. berth disables the two and runs
// hooks of its own that do the same work from the same upstream data, at
// once and in parallel. They are post-start hooks too, so /readyz waits for
// them as it waited for the upstream ones.
var (
	replacedHooks           = []string{"rbac/bootstrap-roles", "scheduling/bootstrap-system-priority-classes"}
	bootstrapRBACHook       = "berth/bootstrap-roles"
	bootstrapPriorityHook   = "berth/bootstrap-system-priority-classes"
	bootstrapPollInterval   = 50 * time.Millisecond
	bootstrapTimeout        = 30 * time.Second
	bootstrapParallelWrites = 8
)

// bootstrapClient is the hooks' client: the loopback config without
// client-side rate limits, which would serialise the writes again.
func bootstrapClient(ctx genericapiserver.PostStartHookContext) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(ctx.LoopbackClientConfig)
	cfg.QPS, cfg.Burst = -1, 0
	return kubernetes.NewForConfig(cfg)
}

// retryWrite retries one reconciliation on conflicts and while the server
// is not yet accepting writes, as the upstream hook does.
func retryWrite(fn func() error) error {
	return retry.OnError(retry.DefaultBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsServiceUnavailable(err)
	}, fn)
}

// bootstrapRBAC creates or reconciles kube-apiserver's bootstrap cluster
// roles, cluster role bindings, roles and role bindings (the upstream
// bootstrap policy, controller roles included), adding what is missing and
// keeping what users added, as the upstream hook does. The legacy
// migrations of that hook (roles renamed or split before Kubernetes 1.9)
// have nothing to migrate in clusters berth creates.
func bootstrapRBAC(hookCtx genericapiserver.PostStartHookContext) error {
	client, err := bootstrapClient(hookCtx)
	if err != nil {
		return err
	}
	var tasks []func() error
	for _, r := range append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...) {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: &r},
			Client:  reconciliation.ClusterRoleModifier{Client: client.RbacV1().ClusterRoles()},
			Confirm: true,
		}
		tasks = append(tasks, func() error { _, err := opts.Run(); return err })
	}
	for _, b := range append(bootstrappolicy.ClusterRoleBindings(), bootstrappolicy.ControllerRoleBindings()...) {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &b},
			Client:      reconciliation.ClusterRoleBindingClientAdapter{Client: client.RbacV1().ClusterRoleBindings()},
			Confirm:     true,
		}
		tasks = append(tasks, func() error { _, err := opts.Run(); return err })
	}
	for _, roles := range bootstrappolicy.NamespaceRoles() {
		for _, r := range roles {
			opts := reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.RoleRuleOwner{Role: &r},
				Client:  reconciliation.RoleModifier{Client: client.RbacV1(), NamespaceClient: client.CoreV1().Namespaces()},
				Confirm: true,
			}
			tasks = append(tasks, func() error { _, err := opts.Run(); return err })
		}
	}
	for _, bindings := range bootstrappolicy.NamespaceRoleBindings() {
		for _, b := range bindings {
			opts := reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: &b},
				Client:      reconciliation.RoleBindingClientAdapter{Client: client.RbacV1(), NamespaceClient: client.CoreV1().Namespaces()},
				Confirm:     true,
			}
			tasks = append(tasks, func() error { _, err := opts.Run(); return err })
		}
	}
	return pollUntilDone(hookCtx, func() error { return runParallel(tasks) }, "bootstrap RBAC policy")
}

// runParallel runs every task (each retried as retryWrite does) with a
// bounded number in flight, and reports the first error after all ran.
func runParallel(tasks []func() error) error {
	sem := make(chan struct{}, bootstrapParallelWrites)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, task := range tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := retryWrite(task); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// bootstrapPriorityClasses creates system-node-critical and
// system-cluster-critical when they are missing.
func bootstrapPriorityClasses(hookCtx genericapiserver.PostStartHookContext) error {
	client, err := bootstrapClient(hookCtx)
	if err != nil {
		return err
	}
	return pollUntilDone(hookCtx, func() error {
		for _, pc := range schedulingapiv1.SystemPriorityClasses() {
			_, err := client.SchedulingV1().PriorityClasses().Get(hookCtx, pc.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				_, err = client.SchedulingV1().PriorityClasses().Create(hookCtx, pc.DeepCopy(), metav1.CreateOptions{})
				if apierrors.IsAlreadyExists(err) {
					err = nil
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, "system priority classes")
}

// pollUntilDone tries fn at once and then every bootstrapPollInterval
// until it succeeds, the server stops, or bootstrapTimeout passes (then
// the server fails, as it does when the upstream hooks fail).
func pollUntilDone(hookCtx genericapiserver.PostStartHookContext, fn func() error, what string) error {
	var last error
	err := wait.PollUntilContextTimeout(hookCtx, bootstrapPollInterval, bootstrapTimeout, true, func(context.Context) (bool, error) {
		last = fn()
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w (last error: %v)", what, err, last)
	}
	return nil
}
