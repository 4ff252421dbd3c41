"""Operations on a whole store: verify it, salvage what is intact from a damaged one."""
