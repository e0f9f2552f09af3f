package rewind

import "time"

// Environment is a stage such as dev, staging or prod, with its rollback policy.
type Environment struct {
	ID   int64
	Name string
	// RequiredApprovals is how many approvers other than the requester must
	// approve a rollback request before it runs; 0 runs it at once.
	RequiredApprovals int
	CreatedAt         time.Time
}

// ValidateEnvironment checks an environment before it is saved.
func ValidateEnvironment(e Environment) error {
	if err := validateName("An environment name", e.Name); err != nil {
		return err
	}
	if e.RequiredApprovals < 0 || e.RequiredApprovals > 5 {
		return Errorf(EINVALID, "Required approvals must be between 0 and 5.")
	}
	return nil
}

// validateName checks a short identifier such as an environment or cluster name.
func validateName(what, name string) error {
	if name == "" || len(name) > 63 {
		return Errorf(EINVALID, "%s has 1 to 63 characters.", what)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_' || c == '.'))
		if !ok {
			return Errorf(EINVALID, "%s may hold lower-case letters, digits, - _ and . only, and starts with a letter or digit.", what)
		}
	}
	return nil
}
