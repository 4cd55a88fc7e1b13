/* Placeholder translation unit: lets a library target exist before (or
 * without) any module of its own. */
extern int hr_empty_translation_unit;
