package configs

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/rewind"
)

// PlanStep plans bringing config t to version g.To, or deleting it when it
// did not exist before (g.Absent), reading Nacos and changing nothing. The
// step keeps the md5 Nacos holds now, and runs only while Nacos still holds
// it. It implements rewind.Planner.
func (m *Manager) PlanStep(ctx context.Context, t *rewind.Target, g rewind.Goal) (*rewind.StepPlan, error) {
	to := g.To
	action := rewind.ConfigPublish
	detail := fmt.Sprintf("restore %s to version %d", t.Label(), to.Number)
	if g.Absent || to.Hash == "" {
		action, detail = rewind.ConfigDelete, "delete "+t.Label()+", which did not exist before"
	}
	payload, err := rewind.ConfigRestore{Action: action}.Encode()
	if err != nil {
		return nil, err
	}
	p := &rewind.StepPlan{To: to, Step: rewind.Step{TargetID: t.ID, VersionID: to.ID, Payload: payload, Detail: detail}}
	if action == rewind.ConfigDelete {
		p.Confirm = t.Name
		p.Warnings = append(p.Warnings, "Deletes "+t.Label()+" from Nacos: the release created it. Type its data ID to allow the step.")
	}
	live, err := m.Current(ctx, t)
	if err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return nil, err
		}
		p.Blocked = rewind.ErrorMessage(err)
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", Message: rewind.ErrorMessage(err)})
		return p, nil
	}
	switch {
	case action == rewind.ConfigDelete && !live.Exists, action == rewind.ConfigPublish && live.Exists && live.MD5 == to.Hash:
		p.AlreadyThere = true
		return p, nil
	case action == rewind.ConfigPublish && to.Content == "":
		p.Blocked = fmt.Sprintf("Version %d has empty content, and Nacos cannot publish empty content.", to.Number)
	}
	if live.Exists {
		p.Step.Expected = live.MD5
	}
	if err := m.Preflight(ctx, t); err != nil {
		p.Blocked = rewind.ErrorMessage(err)
		p.Checks = append(p.Checks, rewind.Check{Name: "reachable", Message: rewind.ErrorMessage(err)})
		return p, nil
	}
	p.Checks = append(p.Checks,
		rewind.Check{Name: "reachable", OK: true, Message: "The Nacos server answers and takes restores."},
		rewind.Check{Name: "unchanged since the plan", OK: true, Message: "The restore writes only while Nacos still holds what it holds now (compare-and-swap on its md5)."})
	return p, nil
}

var _ rewind.Planner = (*Manager)(nil)
