package groupspec

import "infrakit.aliyun/internal/testutil"

var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
	isErr       = testutil.IsErr
)
