package store

import (
	"context"
	"errors"
	"fmt"
)

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("store: dry run")

// StepKind is what a Step does.
type StepKind int

// The kinds of step, each the change of the store method of the same name.
const (
	StepCreate      StepKind = iota // CreateSCMConfig
	StepUpdate                      // UpdateSCMConfig, and the file that manages it
	StepEnable                      // SetEnabled true
	StepDisable                     // SetEnabled false
	StepMakeDefault                 // MakeDefault
	StepDelete                      // DeleteSCMConfig
)

// Step is one change of a configuration file's plan. Config.Ref names the configuration;
// on StepCreate, Config is the new one (values, unique key, ManagedBy) and on StepUpdate its
// new values and ManagedBy; Secrets are the secrets to set (field name → plain text).
type Step struct {
	Kind    StepKind
	Config  SCMConfig
	Secrets map[string]string
}

// StepError is the failure of the step at Index of ApplySCMConfigs' steps.
type StepError struct {
	Index int
	Err   error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %d: %v", e.Index, e.Err) }

func (e *StepError) Unwrap() error { return e.Err }

// ApplySCMConfigs takes steps in one transaction, in order: all of them or, when one fails
// (a *StepError saying which), none. Each runs the code, the lifecycle rules and the audit
// entry of its own method on the row as the transaction reads it; the rule of CanChange is
// replaced by the file's: a configuration that another file manages is refused (a
// *ManagedError), while those of file, or of none, change. With dryRun the transaction is
// rolled back once every step has run: the same checks, and nothing written.
func (s *Store) ApplySCMConfigs(ctx context.Context, file string, steps []Step, by Actor, dryRun bool) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		for i, st := range steps {
			if err := s.applyStep(ctx, tx, file, st, by); err != nil {
				return &StepError{Index: i, Err: err}
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: apply %s: %w", file, err)
	}
	return nil
}

// applyStep takes st within tx.
func (s *Store) applyStep(ctx context.Context, tx *wtx, file string, st Step, by Actor) error {
	if st.Kind == StepCreate {
		if _, err := s.createTx(ctx, tx, st.Config, st.Secrets, by); err != nil {
			return createError(st.Config, err)
		}
		return nil
	}
	c, err := s.scmConfigByRef(ctx, tx, st.Config.Ref)
	if err != nil {
		return err
	}
	managedBy := func(c SCMConfig) error {
		if c.ManagedBy != "" && c.ManagedBy != file {
			return c.CanChange()
		}
		return nil
	}
	if err := managedBy(c); err != nil {
		return err
	}
	switch st.Kind {
	case StepUpdate:
		if _, err := s.updateTx(ctx, tx, c, st.Config, st.Secrets, by); err != nil {
			return updateError(c, err)
		}
		return nil
	case StepEnable, StepDisable:
		return s.setEnabledTx(ctx, tx, c, st.Kind == StepEnable, by)
	case StepMakeDefault:
		_, err := s.makeDefaultTx(ctx, tx, c, by, managedBy)
		return err
	case StepDelete:
		return s.deleteTx(ctx, tx, c, by)
	}
	return fmt.Errorf("store: unknown step kind %d", st.Kind)
}
