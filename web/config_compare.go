package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/templates"
)

// configCompare compares two versions of a config (b defaults to the current
// one, a to the one before it), with the changed keys, masked unless revealed.
func (s *Server) configCompare(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.configTarget(c)
	if err != nil {
		return err
	}
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	revealed, err := s.revealSecrets(c, t, "the compare page")
	if err != nil {
		return err
	}
	// Reading the current content first records it when Rewind had not seen it.
	st, curErr := be.Current(ctx, t)
	versions, err := be.Versions(ctx, t)
	if err != nil {
		return err
	}
	if len(versions) == 0 {
		return rewind.Errorf(rewind.ENOTFOUND, "No version of %s is recorded yet.", t.Name)
	}
	// The current version is the newest with the content Nacos holds now;
	// without Nacos, the newest recorded.
	current := 0
	if curErr == nil {
		current = max(currentIndex(versions, st.Exists, st.MD5), 0)
	}
	a, err := s.versionParam(c, t, "a", versions[min(current+1, len(versions)-1)].Number)
	if err != nil {
		return err
	}
	b, err := s.versionParam(c, t, "b", versions[current].Number)
	if err != nil {
		return err
	}
	mode := c.QueryParam("mode")
	if mode != "split" {
		mode = "unified"
	}
	d, keys, showKeys := configDiff(be, t, a.Content, b.Content, revealed)
	note := maskNote(c, t, viewCompare, revealed)
	note.SecretsDiffer = secretsDiffer(be, t, a.Content, b.Content, revealed)
	v := templates.CompareView{Target: t, BasePath: configPath(t), A: a, B: b, Mode: mode, Latest: versions[current].Number,
		Diff: d, KeyChanges: keys, ShowKeys: showKeys, Choices: versionChoices(versions, current),
		Extra:         templates.ConfigMaskNotice(note),
		CanRollback:   can(c, rewind.RoleOperator, t.EnvironmentID) && !be.Status(t.OwnerID).ReadOnly,
		RollbackLabel: "Restore version " + strconv.FormatInt(a.Number, 10)}
	return s.render(c, http.StatusOK, s.meta(c, "Compare "+t.Name, "configs"), templates.ComparePage(v))
}
