package state

import "time"

// Lifecycle operations on one live instance, under the store lock. An
// instance in another status, or with an operation lock (a spot
// interruption notice), is refused with IncorrectStatus.

func incorrect(in *Instance, status string) error {
	return &Error{Kind: IncorrectStatus, Resource: ResInstance, ID: in.ID, Status: status}
}

// Start moves a Stopped instance through Starting (two thirds of the boot
// time) to Running.
func (st *Store) Start(in *Instance, now time.Time) error {
	if s := in.Status(now); s != StatusStopped || len(in.Locks) > 0 {
		return incorrect(in, s)
	}
	start := st.BootTime - st.BootTime/3
	in.State = Transition{From: StatusStarting, MidAt: now.Add(start), Mid: StatusRunning, ToAt: now.Add(start), To: StatusRunning}
	in.Started = now.Add(start)
	return nil
}

// Stop moves a Running instance through Stopping to Stopped.
func (st *Store) Stop(in *Instance, now time.Time) error {
	if s := in.Status(now); s != StatusRunning || len(in.Locks) > 0 {
		return incorrect(in, s)
	}
	in.State = Transition{From: StatusStopping, MidAt: now.Add(st.StopTime), Mid: StatusStopped, ToAt: now.Add(st.StopTime), To: StatusStopped}
	return nil
}

// Reboot moves a Running instance through Stopping and Starting back to
// Running.
func (st *Store) Reboot(in *Instance, now time.Time) error {
	if s := in.Status(now); s != StatusRunning || len(in.Locks) > 0 {
		return incorrect(in, s)
	}
	start := st.BootTime - st.BootTime/3
	in.State = Transition{From: StatusStopping, MidAt: now.Add(st.StopTime), Mid: StatusStarting, ToAt: now.Add(st.StopTime + start), To: StatusRunning}
	in.Started = now.Add(st.StopTime + start)
	return nil
}

// CheckDelete says whether the instance may be released: not while
// deletion protection is on; without force only when Stopped.
func CheckDelete(in *Instance, force bool, now time.Time) error {
	if in.DeletionProtection {
		return &Error{Kind: DeletionProtected, Resource: ResInstance, ID: in.ID}
	}
	if s := in.Status(now); !force && s != StatusStopped {
		return incorrect(in, s)
	}
	return nil
}

// Kill releases a live instance at once (deleted behind the API's back).
func (st *Store) Kill(id string, now time.Time) error {
	in, err := st.LiveInstance(id, "")
	if err != nil {
		return err
	}
	st.Release(in, now, ReleaseKilled)
	return nil
}

// Preempt starts a spot interruption: the instance gets the Recycling
// operation lock now and is released notice later (by Reap).
func (st *Store) Preempt(id string, now time.Time, notice time.Duration) error {
	in, err := st.LiveInstance(id, "")
	if err != nil {
		return err
	}
	if !in.PreemptedAt.IsZero() {
		return &Error{Kind: AlreadyPreempted, Resource: ResInstance, ID: id, Detail: in.PreemptedAt.Format(time.RFC3339)}
	}
	in.PreemptedAt = now
	in.ReleaseAt = now.Add(notice)
	in.Locks = append(in.Locks, "Recycling")
	st.PendingRelease = append(st.PendingRelease, in)
	return nil
}

// InstanceChange is a ModifyInstanceAttribute: nil fields stay as they are.
type InstanceChange struct {
	Name, Description, HostName *string
	UserData                    *string // only while Stopped
	DeletionProtection          *bool
}

// ModifyInstance applies ch to a live instance; new UserData needs the
// instance Stopped (nothing changes otherwise).
func (st *Store) ModifyInstance(id, region string, ch InstanceChange, now time.Time) error {
	in, err := st.LiveInstance(id, region)
	if err != nil {
		return err
	}
	if s := in.Status(now); ch.UserData != nil && s != StatusStopped {
		return incorrect(in, s)
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&in.Name, ch.Name)
	set(&in.Description, ch.Description)
	set(&in.HostName, ch.HostName)
	set(&in.UserData, ch.UserData)
	if ch.DeletionProtection != nil {
		in.DeletionProtection = *ch.DeletionProtection
	}
	return nil
}
