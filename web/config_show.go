package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/rewindhq/rewind/internal/rewind"
	"github.com/rewindhq/rewind/internal/sqlite"
	"github.com/rewindhq/rewind/templates"
)

// configShow shows a config: its current content, highlighted and masked,
// and a page of its versions, newest first.
func (s *Server) configShow(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.configTarget(c)
	if err != nil {
		return err
	}
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	revealed, err := s.revealSecrets(c, t, "the config page")
	if err != nil {
		return err
	}
	v := templates.ConfigView{Target: t, BasePath: configPath(t), Status: be.Status(t.OwnerID), Mask: maskNote(c, t, viewConfig, revealed)}
	if n, err := s.store.NacosServer(ctx, t.OwnerID); err == nil {
		v.Server = n.Name
	}
	if env, err := s.store.Environment(ctx, t.EnvironmentID); err == nil {
		v.Env = env.Name
	}

	var content, md5 string
	if st, err := be.Current(ctx, t); err != nil {
		if rewind.ErrorCode(err) == rewind.EINTERNAL {
			return err
		}
		v.Problem = rewind.ErrorMessage(err)
		if live, err := s.store.LiveConfigVersion(ctx, t.ID); err == nil {
			content, md5, v.Exists = live.Content, live.Hash, live.Hash != ""
		}
	} else {
		content, md5, v.Exists = st.Content, st.MD5, st.Exists
	}
	v.MD5 = md5Shown(be, t, content, md5, revealed)
	v.Format = be.Format(t, content)
	v.Lines = highlight(v.Format, shown(be, t, content, revealed))

	versions, err := be.Versions(ctx, t)
	if err != nil {
		return err
	}
	current := currentIndex(versions, v.Exists, md5)
	v.Nav = templates.PageNav{Page: pageParam(c), PerPage: configVersionsPerPage, Total: len(versions), BaseURL: v.BasePath}
	from := pageOffset(v.Nav.Current(), configVersionsPerPage)
	canRequest := can(c, rewind.RoleOperator, t.EnvironmentID) && !v.Status.ReadOnly
	page := versions[min(from, len(versions)):min(from+configVersionsPerPage, len(versions))]
	md5s := s.versionMD5s(ctx, be, t, page, revealed)
	for i := from; i < min(from+configVersionsPerPage, len(versions)); i++ {
		cv := versions[i]
		row := templates.ConfigVersionRow{V: cv, Current: i == current, MD5: md5s[cv.MD5]}
		if canRequest && !row.Current {
			row.Restore = v.BasePath + "/rollback?version=" + strconv.FormatInt(cv.Number, 10)
			if cv.Deleted {
				row.Restore += "&action=" + rewind.ConfigDelete
			}
		}
		// Before an I row the config did not exist: restoring that state deletes it.
		if canRequest && cv.Op == rewind.NacosInsert && v.Exists {
			row.DeleteBefore = v.BasePath + "/rollback?version=" + strconv.FormatInt(cv.Number, 10) + "&action=" + rewind.ConfigDelete
		}
		v.Versions = append(v.Versions, row)
	}
	if open, err := s.store.Requests(ctx, sqlite.RequestFilter{TargetID: t.ID, States: openStates, Limit: 1}); err == nil && len(open) > 0 {
		v.Open = open[0]
	}
	return s.render(c, http.StatusOK, s.meta(c, t.Name, "configs"), templates.ConfigPage(v))
}

// configVersionRaw downloads one version's content as text, masked.
func (s *Server) configVersionRaw(c echo.Context) error {
	n, err := idParam(c, "number")
	if err != nil {
		return err
	}
	return s.rawVersion(c, n)
}

// rawVersion downloads version n of the config named by :id as text, masked
// unless revealed.
func (s *Server) rawVersion(c echo.Context, n int64) error {
	t, err := s.configTarget(c)
	if err != nil {
		return err
	}
	be, err := s.configBackend()
	if err != nil {
		return err
	}
	ver, err := s.store.VersionByNumber(c.Request().Context(), t.ID, n)
	if err != nil {
		return err
	}
	revealed, err := s.revealSecrets(c, t, "the raw version "+strconv.FormatInt(n, 10))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(t.Name)+"-v"+strconv.FormatInt(n, 10)+`.txt"`)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(shown(be, t, ver.Content, revealed)))
}

// safeFileName keeps a data ID usable in a Content-Disposition header.
func safeFileName(name string) string {
	b := []byte(name)
	for i, ch := range b {
		if ch < 0x20 || ch == '"' || ch == '\\' || ch == '/' || ch >= 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}
