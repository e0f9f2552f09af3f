package web

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/diff"
	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
)

type apiUser struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Token    string `json:"token"`
	ReadOnly bool   `json:"read_only"`
	// Roles is the caller's role in each environment they see, by name.
	Roles map[string]string `json:"roles"`
}

func (s *Server) apiMe(c echo.Context) error {
	a := actor(c)
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	me := apiUser{Username: a.User.Username, Role: string(a.User.Role), Token: a.Token, ReadOnly: a.ReadOnly, Roles: map[string]string{}}
	for _, e := range envs {
		me.Roles[e.Name] = string(a.RoleIn(e.ID))
	}
	return apiJSON(c, 200, me)
}

type apiEnvironment struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	RequiredApprovals int    `json:"required_approvals"`
	// Role is the caller's role there.
	Role string `json:"role"`
}

// apiEnvironments lists the environments the caller sees, with their role
// in each.
func (s *Server) apiEnvironments(c echo.Context) error {
	envs, err := s.environments(c)
	if err != nil {
		return err
	}
	out := make([]apiEnvironment, 0, len(envs))
	for _, e := range envs {
		out = append(out, apiEnvironment{e.ID, e.Name, e.RequiredApprovals, string(actor(c).RoleIn(e.ID))})
	}
	return apiJSON(c, 200, page{Items: out, Page: 1, PerPage: len(out), Total: len(out)})
}

type apiVersion struct {
	ID          int64          `json:"id"`
	Number      int64          `json:"number"`
	Revision    string         `json:"revision"`
	Hash        string         `json:"hash"`
	Source      string         `json:"source"`
	Author      string         `json:"author"`
	ChangeCause string         `json:"change_cause,omitempty"`
	Images      []rewind.Image `json:"images,omitempty"`
	RequestID   int64          `json:"request_id,omitempty"`
	CreatedAt   time.Time      `json:"created_at"`
}

// toAPIVersion is v as the API shows it: a config's md5 is hidden, as on
// the pages, when its content has masked values.
func (s *Server) toAPIVersion(t *rewind.Target, v *rewind.Version) *apiVersion {
	if v == nil {
		return nil
	}
	hash := v.Hash
	if t.Kind == rewind.KindConfig {
		hash = hiddenMD5
		if be, err := s.configBackend(); err == nil {
			hash = md5Shown(be, t, v.Content, v.Hash, false)
		}
	}
	return &apiVersion{v.ID, v.Number, v.Revision, hash, string(v.Source), v.Author, v.ChangeCause, v.Images, v.RequestID, v.CreatedAt}
}

type apiTarget struct {
	ID          int64       `json:"id"`
	Kind        string      `json:"kind"`
	Label       string      `json:"label"`
	Environment string      `json:"environment"`
	OwnerID     int64       `json:"owner_id"`
	Namespace   string      `json:"namespace,omitempty"`
	Workload    string      `json:"workload,omitempty"`
	Group       string      `json:"group,omitempty"`
	Name        string      `json:"name"`
	Deleted     bool        `json:"deleted"`
	Versions    int64       `json:"versions"`
	Latest      *apiVersion `json:"latest,omitempty"`
}

func (s *Server) toAPITarget(c echo.Context, envs map[int64]string, t *rewind.Target, latest *rewind.Version, count int64) apiTarget {
	return apiTarget{ID: t.ID, Kind: string(t.Kind), Label: t.Label(), Environment: envs[t.EnvironmentID], OwnerID: t.OwnerID, Namespace: t.Namespace,
		Workload: t.Workload, Group: t.Group, Name: t.Name, Deleted: t.DeletedAt != nil, Versions: count, Latest: s.toAPIVersion(t, latest)}
}

func (s *Server) envNames(c echo.Context) (map[int64]string, error) {
	envs, err := s.store.Environments(c.Request().Context())
	if err != nil {
		return nil, err
	}
	m := make(map[int64]string, len(envs))
	for _, e := range envs {
		m[e.ID] = e.Name
	}
	return m, nil
}

// apiTargets lists the targets of one kind; filters environment (name),
// cluster (name, services only), namespace and q (part of the name).
func (s *Server) apiTargets(kind rewind.TargetKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		pageNo, perPage, err := pageParams(c)
		if err != nil {
			return err
		}
		f := sqlite.TargetFilter{Kind: kind, Namespace: c.QueryParam("namespace"), Search: strings.TrimSpace(c.QueryParam("q"))}
		if name := c.QueryParam("environment"); name != "" {
			env, err := s.store.EnvironmentByName(ctx, name)
			if err != nil {
				return invalidField("environment", "No environment named %q.", name)
			}
			f.EnvironmentID = env.ID
		}
		if name := c.QueryParam("cluster"); name != "" && kind == rewind.KindService {
			cl, err := s.store.ClusterByName(ctx, name)
			if err != nil {
				return invalidField("cluster", "No cluster named %q.", name)
			}
			f.OwnerID = cl.ID
		}
		if f.EnvironmentIDs, err = s.visibleEnvironmentIDs(c); err != nil {
			return err
		}
		all, err := s.store.Targets(ctx, f)
		if err != nil {
			return err
		}
		envs, err := s.envNames(c)
		if err != nil {
			return err
		}
		from := min((pageNo-1)*perPage, len(all))
		to := min(from+perPage, len(all))
		out := make([]apiTarget, 0, to-from)
		for _, ts := range all[from:to] {
			out = append(out, s.toAPITarget(c, envs, ts.Target, ts.Latest, ts.Count))
		}
		return apiJSON(c, 200, page{Items: out, Page: pageNo, PerPage: perPage, Total: len(all)})
	}
}

// target loads the target named by :id, of kind when kind is not empty.
func (s *Server) apiLoadTarget(c echo.Context, kind rewind.TargetKind) (*rewind.Target, error) {
	id, err := idParam(c, "id")
	if err != nil {
		return nil, err
	}
	t, err := s.store.Target(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	if kind != "" && t.Kind != kind || !actor(c).Sees(t.EnvironmentID) {
		return nil, rewind.Errorf(rewind.ENOTFOUND, "No %s with ID %d.", cmp.Or(string(kind), "target"), id)
	}
	return t, nil
}

func (s *Server) apiTarget(kind rewind.TargetKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		t, err := s.apiLoadTarget(c, kind)
		if err != nil {
			return err
		}
		latest, _ := s.store.LatestVersion(c.Request().Context(), t.ID)
		_, total, err := s.store.Versions(c.Request().Context(), t.ID, 0, 1)
		if err != nil {
			return err
		}
		envs, err := s.envNames(c)
		if err != nil {
			return err
		}
		return apiJSON(c, 200, s.toAPITarget(c, envs, t, latest, int64(total)))
	}
}

// apiVersions lists a target's versions, newest first, without their
// content (a config's content may hold secrets).
func (s *Server) apiVersions(c echo.Context) error {
	t, err := s.apiLoadTarget(c, "")
	if err != nil {
		return err
	}
	pageNo, perPage, err := pageParams(c)
	if err != nil {
		return err
	}
	vs, total, err := s.store.Versions(c.Request().Context(), t.ID, (pageNo-1)*perPage, perPage)
	if err != nil {
		return err
	}
	out := make([]*apiVersion, 0, len(vs))
	for _, v := range vs {
		out = append(out, s.toAPIVersion(t, v))
	}
	return apiJSON(c, 200, page{Items: out, Page: pageNo, PerPage: perPage, Total: total})
}

type apiHunk struct {
	Header string   `json:"header"`
	Lines  []string `json:"lines"` // each starts with " ", "+" or "-"
}

type apiDiffBody struct {
	From         int64                `json:"from"`
	To           int64                `json:"to"`
	Identical    bool                 `json:"identical"`
	TooLarge     bool                 `json:"too_large"`
	Added        int                  `json:"added"`
	Removed      int                  `json:"removed"`
	ImageChanges []rewind.ImageChange `json:"image_changes,omitempty"`
	ChangedKeys  []diff.KeyChange     `json:"changed_keys,omitempty"`
	Hunks        []apiHunk            `json:"hunks"`
	Notes        []string             `json:"notes,omitempty"`
}

// apiDiff compares versions ?from= and ?to= of a target; a config's
// secrets are masked as on the pages.
func (s *Server) apiDiff(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.apiLoadTarget(c, "")
	if err != nil {
		return err
	}
	num := func(field string) (*rewind.Version, error) {
		n, err := strconv.ParseInt(c.QueryParam(field), 10, 64)
		if err != nil || n < 1 {
			return nil, invalidField(field, "%s is a version number.", field)
		}
		v, err := s.store.VersionByNumber(ctx, t.ID, n)
		if rewind.ErrorCode(err) == rewind.ENOTFOUND {
			return nil, invalidField(field, "Version %d not found.", n)
		}
		return v, err
	}
	from, err := num("from")
	if err != nil {
		return err
	}
	to, err := num("to")
	if err != nil {
		return err
	}
	var d *diff.Result
	var keys []diff.KeyChange
	switch t.Kind {
	case rewind.KindConfig:
		be, err := s.configBackend()
		if err != nil {
			return err
		}
		d, keys, _ = configDiff(be, t, from.Content, to.Content, false)
	default:
		d = diff.Compute(from.Content, to.Content, diff.DefaultOptions())
	}
	body := apiDiffBody{From: from.Number, To: to.Number, Identical: d.Identical, TooLarge: d.TooLarge, Added: d.Stats.Added, Removed: d.Stats.Removed,
		ImageChanges: rewind.ImageChanges(from.Images, to.Images), ChangedKeys: keys, Hunks: []apiHunk{}, Notes: d.Notes}
	for _, h := range d.Hunks {
		ah := apiHunk{Header: h.Header}
		for _, l := range h.Lines {
			mark := " "
			switch {
			case l.OldNum == 0:
				mark = "+"
			case l.NewNum == 0:
				mark = "-"
			}
			ah.Lines = append(ah.Lines, mark+l.Text())
		}
		body.Hunks = append(body.Hunks, ah)
	}
	return apiJSON(c, 200, body)
}
