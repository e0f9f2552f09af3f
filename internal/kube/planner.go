package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/rewindhq/rewind/internal/rewind"
)

// PlanStep plans bringing service t to version g.To, reading the live
// workload and changing nothing. It implements rewind.Planner.
func (m *Manager) PlanStep(ctx context.Context, t *rewind.Target, g rewind.Goal) (*rewind.StepPlan, error) {
	to := g.To
	p := &rewind.StepPlan{To: to}
	if g.Absent {
		p.Blocked = "The release created this workload. Rewind never deletes a workload; delete it by hand if it must go."
		p.Warnings = append(p.Warnings, "Created by the release: "+t.Label()+" did not exist before it.")
		return p, nil
	}
	p.Step = rewind.Step{TargetID: t.ID, VersionID: to.ID, Detail: fmt.Sprintf("roll %s back to version %d (revision %s)", t.Label(), to.Number, to.Revision)}
	_, o, _, err := m.check(ctx, t, to)
	switch {
	case err == errCurrent:
		p.AlreadyThere = true
		return p, nil
	case err != nil && rewind.ErrorCode(err) == rewind.EINTERNAL:
		return nil, err
	case err != nil:
		p.Blocked = rewind.ErrorMessage(err)
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", Message: rewind.ErrorMessage(err)})
	default:
		p.Step.Expected = o.GetResourceVersion()
		p.Checks = append(p.Checks,
			rewind.Check{Name: "reachable", OK: true, Message: "The workload answers and is not paused."},
			rewind.Check{Name: "unchanged since the plan", OK: true, Message: "The rollback writes only while the workload is at resourceVersion " + p.Step.Expected + "."})
	}
	if len(to.Images) == 0 {
		p.Checks = append(p.Checks, rewind.Check{Name: "images recorded", Message: fmt.Sprintf("Version %d has no recorded images.", to.Number)})
		if p.Blocked == "" {
			p.Blocked = fmt.Sprintf("Version %d has no recorded images, so Rewind cannot tell what it would run.", to.Number)
		}
	} else {
		var images []string
		for _, i := range to.Images {
			images = append(images, i.Image)
		}
		p.Checks = append(p.Checks, rewind.Check{Name: "images recorded", OK: true, Message: strings.Join(images, ", ")})
	}
	return p, nil
}

var _ rewind.Planner = (*Manager)(nil)
