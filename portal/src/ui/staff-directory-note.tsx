// Says where names come from when the hospital's staff directory named people the records give only
// by user ID: the directory's upload time and size; the rows it named say so in their details.

import type { Session } from "../lib/types.js";
import { TimeCell } from "./access-table.js";
import { formatCount } from "./format.js";

export function StaffDirectoryNote(props: { session: Session }) {
  const directory = props.session.staffDirectory();
  if (!directory) return null;
  return (
    <p class="hint" data-testid="staff-directory-note" data-index={directory.index}>
      Where a record gives only a user ID, the name, role and department come from the hospital's staff
      directory ({formatCount(directory.people)} people, uploaded <TimeCell time={directory.time} />
      ).
    </p>
  );
}
