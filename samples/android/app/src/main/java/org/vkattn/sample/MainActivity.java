package org.vkattn.sample;

import android.app.Activity;
import android.graphics.Typeface;
import android.os.Bundle;
import android.widget.Button;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.TextView;

/**
 * Runs the demo problem on start and the conformance matrix on request, on
 * Vulkan and on the CPU, and shows the native side's reports
 * (src/main/cpp/vkattn_jni.cpp; also in logcat, tag "vkattn-sample").
 *
 * <p>From a shell: {@code adb shell am start -n org.vkattn.sample/.MainActivity --ez conformance true}
 * also runs the matrix once the demo is done ({@code --es filter TEXT[,TEXT...]}: only the cases
 * whose names contain one of the texts).
 */
public class MainActivity extends Activity {
    static {
        System.loadLibrary("vkattn_jni");
    }

    private static native String runDemo(String cacheDir);

    private static native String runConformance(String filter);

    private TextView report;
    private Button conformanceButton;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        report = new TextView(this);
        report.setTypeface(Typeface.MONOSPACE);
        report.setTextIsSelectable(true);
        conformanceButton = new Button(this);
        conformanceButton.setText("Run the conformance matrix");
        conformanceButton.setEnabled(false);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(report);
        LinearLayout layout = new LinearLayout(this);
        layout.setOrientation(LinearLayout.VERTICAL);
        layout.addView(conformanceButton);
        layout.addView(scroll);
        setContentView(layout);

        final String cacheDir = getCacheDir().getAbsolutePath();
        final boolean conformanceNow = getIntent().getBooleanExtra("conformance", false);
        final String filter = getIntent().getStringExtra("filter");
        conformanceButton.setOnClickListener(view -> startConformance(filter));
        // One run at a time, so that the timings are the device's alone.
        report.setText("Running the demo...\n");
        new Thread(() -> {
            String text = runDemo(cacheDir);
            runOnUiThread(() -> {
                report.append(text);
                conformanceButton.setEnabled(true);
                if (conformanceNow) startConformance(filter);
            });
        }).start();
    }

    private void startConformance(String filter) {
        conformanceButton.setEnabled(false);
        report.append("\nRunning the conformance matrix (minutes)...\n");
        new Thread(() -> {
            String text = runConformance(filter == null ? "" : filter);
            runOnUiThread(() -> {
                report.append(text);
                conformanceButton.setEnabled(true);
            });
        }).start();
    }
}
