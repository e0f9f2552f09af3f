package nacos

// SetPageSize sets the page size a client asks for when listing, for tests of paging.
func SetPageSize(c *Client, n int) { c.pageSize = n }
