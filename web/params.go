package web

import (
	"errors"
	"strconv"

	"github.com/labstack/echo/v4"
)

// maxPage is the highest page number a list link may ask for.
const maxPage = 1_000_000

// pageParam returns the page number of the query parameter "page": 1 when it
// is missing, not a number or below 1, and at most maxPage, so that
// (page-1)*perPage can neither overflow nor go negative.
func pageParam(c echo.Context) int {
	return parsePage(c.QueryParam("page"))
}

func parsePage(s string) int {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) && s[0] != '-' {
			return maxPage
		}
		return 1
	}
	return int(min(max(n, 1), maxPage))
}

// pageOffset returns the offset of a page of perPage items.
func pageOffset(page, perPage int) int {
	return (min(max(page, 1), maxPage) - 1) * perPage
}
